"""What every command shares: printing models as JSON, and turning errors into one line + exit 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from assistant.errors import TraindocError

if TYPE_CHECKING:  # `traindoc --help` must not pay for pydantic (docs/startup.md)
    from pydantic import BaseModel

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2
EXIT_OUT_OF_MEMORY = 3  # not a usage error: the measurement needs a smaller batch (the message says)


def print_json(model: BaseModel, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(model.model_dump_json(indent=2) + "\n")


def fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"traindoc: {' '.join(message.split())}\n")
    return code


def guarded(command: Callable[[], int]) -> int:
    """Run a command; user errors are one line on stderr and exit 2, never a traceback."""
    try:
        return command()
    except TraindocError as exc:
        return fail(exc.message)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        # a ProbeError can only come from probes.base once it is imported: no need to import it here
        base = sys.modules.get("probes.base")
        if base is not None and isinstance(exc, base.ProbeOutOfMemory):
            return fail(exc.message, EXIT_OUT_OF_MEMORY)
        if base is not None and isinstance(exc, base.ProbeError):
            return fail(exc.message)
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
