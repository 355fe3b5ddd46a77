"""The child side of a probe job: read the request, run the probe, send progress and one result.

Runs in its own process (`python -P -c CHILD_CODE`, spawned by runner.py): see protocol.py for what
goes over the pipes. A failure of any kind becomes one `error` message; nothing is re-raised.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.jobs.protocol import AUTO, PROGRESS_INTERVAL_S, STOP_GRACE_S
from probes.base import ProbeProgress


class _Channel:
    """The child's end of the pipe: JSON lines, progress throttled."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", buffering=1)
        self._lock = threading.Lock()
        self._last = 0.0

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._out.write(json.dumps(message, default=str) + "\n")
            self._out.flush()

    def progress(self, p: ProbeProgress) -> None:
        now = time.monotonic()
        if p.done < p.total and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        self.send({"type": "progress", "progress": p.model_dump(mode="json")})


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the server dies, whatever the probe is doing.

    The stdin watchdog below is a Python thread: a probe stuck in C code that holds the interpreter
    lock starves it, and the probe kept running (and burning a core) after the server was killed, so
    a restarted server reported the job `interrupted` while it still ran. The parent-death signal is
    the kernel's and needs no Python code to run. Linux only (prctl); elsewhere the watchdog remains.
    If the server died before the signal was set, the parent is already not ours: exit now.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    expected = os.environ.get("TRAINDOC_PARENT_PID")
    if expected and os.getppid() != int(expected):
        os._exit(3)


def main() -> None:
    """Entry point of a job's child process (see protocol.py for what goes over the pipes)."""
    die_with_parent()
    channel = _Channel(int(sys.argv[1]))
    request = json.loads(sys.stdin.readline())
    stop = threading.Event()

    def watch_parent() -> None:
        sys.stdin.read()  # returns at EOF: cancelled, or the server died
        stop.set()
        time.sleep(STOP_GRACE_S * 2)
        os._exit(3)  # the probe ignored should_stop(): do not outlive the server

    threading.Thread(target=watch_parent, daemon=True).start()
    for path in reversed(request.get("sys_path", [])):
        if path not in sys.path:
            sys.path.insert(0, path)
    with contextlib.suppress(OSError):
        os.chdir(request.get("cwd") or ".")
    try:
        message = _run_job(request, channel, stop.is_set)
    except BaseException as exc:  # the job fails with its message; nothing is re-raised
        message = _failure(exc, request["probe"])
    channel.send(message)
    os._exit(0)  # skip interpreter teardown: user code may have left threads behind


def _limit_memory(memory_mb: int | None) -> None:
    """Cap the child's address space at what it uses now plus `memory_mb` (torch maps a lot up front)."""
    if not memory_mb:
        return
    import resource

    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run_job(request: dict[str, Any], channel: _Channel, should_stop: Callable[[], bool]) -> dict[str, Any]:
    from probes.context import ProbeContext
    from probes.setup import check_batch, load_checked, shown_name

    probe = request["probe"]
    # checked again (the file may have changed since it was registered); one batch runs under the
    # memory limit, like the probe, so a broken setup fails with the check's one line
    setup = load_checked(request["setup"], run_batch=False)
    _limit_memory(request.get("memory_mb"))
    check_batch(setup, shown_name(request["setup"]))
    ctx = ProbeContext(setup, progress=channel.progress, should_stop=should_stop)
    if probe == AUTO:
        from assistant.jobs.automatic import auto_summary, run_auto

        outcomes, notes = run_auto(request, ctx, should_stop)
        return {
            "type": "result",
            "outcomes": [o.model_dump(mode="json") for o in outcomes],
            "outcome": auto_summary(outcomes).model_dump(mode="json"),
            "notes": notes,
        }
    from probes.registry import run_probe

    outcome = run_probe(probe, ctx, **request.get("options", {}))
    dumped = outcome.model_dump(mode="json")
    return {"type": "result", "outcomes": [dumped], "outcome": dumped, "notes": []}


def _failure(exc: BaseException, probe: str) -> dict[str, Any]:
    from traindoc.errors import ProbeCancelled, ProbeError, ProbeOutOfMemory, TraindocError

    if isinstance(exc, ProbeCancelled):
        return {"type": "cancelled", "message": exc.message, "code": exc.code}
    message = exc.message if isinstance(exc, ProbeError) else getattr(exc, "message", None) or _where(exc)
    code = exc.code if isinstance(exc, TraindocError) else ProbeError.code
    oom = ProbeOutOfMemory.code
    if any(isinstance(e, MemoryError) for e in _chain(exc)):  # probes wrap it: look at the causes
        message = f"{probe} probe ran out of memory ({message.rstrip(': ')})"
        return {"type": "error", "message": message, "code": oom}
    # torch and the C allocator say it only in words: the one place their text becomes a code
    if "can't allocate memory" in message or "out of memory" in message.lower():
        message, code = f"{probe} probe ran out of memory: {message}", oom
    return {"type": "error", "message": message, "code": code}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    loc = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{loc}"[:500]
