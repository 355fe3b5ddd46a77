"""TRAINDOC_THREADS: one limit for every thread pool a measurement uses.

torch has two pools (intra-op and inter-op) and numpy/scipy call OpenBLAS or MKL, which start their own
pool of one thread per core and ignore torch's setting. On a shared machine a pool wider than the
cores it gets is slower than one thread (issue 19: a 300-step Lanczos took 113 s instead of 15.8 s
while OpenBLAS spun on a busy machine). threadpoolctl sets the BLAS pools at run time.
"""

from __future__ import annotations

import contextlib
import os

from probes.base import ProbeError

_applied: int | None = None


def thread_limit() -> int | None:
    """The limit TRAINDOC_THREADS asks for, None when unset."""
    value = os.environ.get("TRAINDOC_THREADS")
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ProbeError(
            f"TRAINDOC_THREADS must be a positive integer (got {value!r})", field="TRAINDOC_THREADS"
        )
    return threads


def limit_threads(threads: int | None = None) -> int | None:
    """Apply the limit (TRAINDOC_THREADS when `threads` is None) to torch's pools and to every BLAS /
    OpenMP pool threadpoolctl finds; idempotent and cheap after the first call. Returns the limit."""
    global _applied
    threads = thread_limit() if threads is None else threads
    if threads is None or threads == _applied:
        return threads
    import torch

    torch.set_num_threads(threads)
    # only settable before torch's first parallel work; the intra-op pool is what computes
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    else:
        threadpool_limits(limits=threads)  # global, not a context: stays for the process
    _applied = threads
    return threads
