"""What every command shares: printing models as JSON, and turning errors into one line + exit 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

# each error class has its exit code (traindoc/errors.py); the two values stay importable from here
from traindoc.errors import EXIT_OUT_OF_MEMORY as EXIT_OUT_OF_MEMORY
from traindoc.errors import EXIT_USAGE as EXIT_USAGE
from traindoc.errors import TraindocError

if TYPE_CHECKING:  # `traindoc --help` must not pay for pydantic (docs/startup.md)
    import argparse

    from pydantic import BaseModel

    from probes.executor_options import ExecutorChoice

EXIT_OK, EXIT_INTERNAL = 0, 1


def print_json(model: BaseModel, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(model.model_dump_json(indent=2) + "\n")


def fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"traindoc: {' '.join(message.split())}\n")
    return code


def guarded(command: Callable[[], int]) -> int:
    """Run a command; user errors are one line on stderr and their class's exit code (2, or 3 for out
    of memory: traindoc/errors.py), never a traceback. Probe errors are TraindocErrors too."""
    try:
        return command()
    except TraindocError as exc:
        return fail(exc.message, exc.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("TRAINDOC_DEBUG"):
            raise
        return fail(
            f"internal error: {type(exc).__name__}: {exc} (set TRAINDOC_DEBUG=1 for a traceback)",
            EXIT_INTERNAL,
        )


def configure_threads() -> None:
    """Honour TRAINDOC_THREADS (torch intra-op threads). Small models on a busy machine train
    several times faster on one thread than on contended ones (docs/probes.md)."""
    value = os.environ.get("TRAINDOC_THREADS")
    if not value:
        return
    try:
        threads = int(value)
        if threads < 1:
            raise ValueError
    except ValueError:
        raise TraindocError(f"TRAINDOC_THREADS must be a positive integer (got {value!r})") from None
    from probes.threads import limit_threads  # torch's pools and OpenBLAS/MKL (threadpoolctl)

    limit_threads(threads)


def add_executor_arguments(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """--executor (and --workers): where the probes' independent trainings run (issue 18); the words
    and the check are probes/executor_options.py's, shared with `traindoc probe NAME`."""
    from probes.executor_options import EXECUTOR_HELP, WORKERS_HELP, WORKERS_SHOWN_DEFAULT

    parser.add_argument(
        "--executor", metavar="local|ray|ray://HOST:PORT", help=f"{EXECUTOR_HELP} (default: local)"
    )
    if workers:
        parser.add_argument(
            "--workers", type=int, default=None, help=f"{WORKERS_HELP} (default: {WORKERS_SHOWN_DEFAULT})"
        )


def executor_choice(args: argparse.Namespace) -> ExecutorChoice:
    """The checked --executor/--workers: a bad value is a ProbeError naming the field (one line, exit 2)."""
    from probes.executor_options import check_executor

    return check_executor(getattr(args, "executor", None), getattr(args, "workers", None))
