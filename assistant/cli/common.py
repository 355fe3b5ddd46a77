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
    from pydantic import BaseModel

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
