"""Probe jobs: each runs in its own child process, off the server's event loop.

Why a process per job: a probe runs the user's code, which may raise, exhaust memory, or hang in C code
that never checks `should_stop()`. In a child process all three stay contained: the server reads its
progress from a pipe, kills it when its time is up, and keeps serving. Each child has its own rule
engine, so the server's engine (not thread-safe) is never touched by a job.

Protocol: the parent writes one JSON request line to the child's stdin and keeps stdin open; closing it
means "stop" (so a child also stops when the server dies). The child writes JSON lines to a dedicated
pipe (not stdout: user code may print): `progress`, then one `result`, `error` or `cancelled`.

`JobRunner` knows nothing of sessions: it runs requests and calls back `on_start`, `on_progress` and
`on_finish` from its worker threads; the service decides what a result means for a session.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.errors import ServiceUnavailable
from probes.base import ProbeOutcome, ProbeProgress
from traindoc.errors import (
    INTERNAL_ERROR,
    JobTimedOut,
    ProbeCancelled,
    ProbeError,
    ProbeOutOfMemory,
    TraindocError,
)
from traindoc.errors import JobQueueFull as JobQueueFull  # its home is the one error tree

CANCELLED = ProbeCancelled.code  # a job's error_code when it was stopped

AUTO = "auto"  # the whole automatic walk of the flowchart (assistant.autorun.run_automatic)
STOP_GRACE_S = 5.0  # how long a stopped child may take to wind down before it is killed
PROGRESS_INTERVAL_S = 0.1  # the child sends at most ten progress reports a second


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    probe: str
    setup_spec: str  # resolved on the server from a registered NAME, never taken from a client
    options: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # the session's inputs, for "auto"
    notes: list[str] = field(default_factory=list)
    timeout_s: float = 3600.0
    memory_mb: int | None = None


@dataclass
class JobResult:
    status: Literal["done", "failed", "cancelled", "interrupted"]
    outcomes: list[ProbeOutcome] = field(default_factory=list)  # what to apply, in order
    outcome: ProbeOutcome | None = None  # what the job reports (for "auto": a summary of all)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    progress: ProbeProgress | None = None
    error_code: str | None = None  # the error's stable code (traindoc/errors.py): front ends decide by it


@dataclass
class _Ticket:
    request: JobRequest
    cancel: threading.Event = field(default_factory=threading.Event)


class JobRunner:
    """A bounded queue of probe jobs and `workers` threads, each supervising one child at a time."""

    def __init__(
        self,
        *,
        workers: int = 1,
        max_queued: int = 8,
        on_start: Callable[[str], None],
        on_progress: Callable[[str, ProbeProgress], None],
        on_finish: Callable[[str, JobResult], None],
        python: str = sys.executable,
    ) -> None:
        self.workers = workers
        self.max_queued = max_queued
        self.on_start, self.on_progress, self.on_finish = on_start, on_progress, on_finish
        self.python = python
        self._cond = threading.Condition()
        self._queue: deque[_Ticket] = deque()
        self._tickets: dict[str, _Ticket] = {}
        self._reserved = 0
        self._running: set[str] = set()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"traindoc-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop taking jobs, kill running children; returns the ids of jobs that did not finish."""
        with self._cond:
            self._stopping = True
            left = [t.request.job_id for t in self._queue] + sorted(self._running)
            self._queue.clear()
            children = list(self._children.values())
            self._cond.notify_all()
        for child in children:
            _kill(child)
        for t in self._threads:
            t.join(timeout)
        return left

    # -- queueing -----------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        with self._cond:
            return len(self._running), len(self._queue) + self._reserved

    def reserve(self) -> None:
        """Claim a queue slot before the job is persisted, so a full queue is refused up front."""
        with self._cond:
            if self._stopping:
                raise ServiceUnavailable("the server is shutting down")
            if len(self._queue) + self._reserved >= self.max_queued:
                raise JobQueueFull(
                    f"too many probe jobs are waiting ({self.max_queued}); try again when one finishes"
                )
            self._reserved += 1

    def release(self) -> None:
        with self._cond:
            self._reserved = max(0, self._reserved - 1)

    def submit(self, request: JobRequest) -> None:
        """Queue a job whose slot was reserved."""
        with self._cond:
            self._reserved = max(0, self._reserved - 1)
            ticket = _Ticket(request)
            self._tickets[request.job_id] = ticket
            self._queue.append(ticket)
            self._cond.notify()

    def cancel(self, job_id: str) -> Literal["dequeued", "signalled", "unknown"]:
        """A queued job is dropped at once; a running one is asked to stop, then killed."""
        with self._cond:
            ticket = self._tickets.get(job_id)
            if ticket is None:
                return "unknown"
            ticket.cancel.set()
            if ticket in self._queue:
                self._queue.remove(ticket)
                del self._tickets[job_id]
                return "dequeued"
            return "signalled"

    # -- running ------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                ticket = self._queue.popleft()
                job_id = ticket.request.job_id
                self._running.add(job_id)
            try:
                self.on_start(job_id)
                result = self._supervise(ticket)
            except Exception as exc:  # our own bug: the job fails, the worker lives on
                result = JobResult(
                    "failed", error=f"internal error running the job: {exc}", error_code=INTERNAL_ERROR
                )
            with self._cond:
                self._running.discard(job_id)
                self._children.pop(job_id, None)
                self._tickets.pop(job_id, None)
                stopping = self._stopping
            if not stopping:
                with contextlib.suppress(Exception):  # the server may be going away
                    self.on_finish(job_id, result)

    def _supervise(self, ticket: _Ticket) -> JobResult:
        return self._spawn_and_follow(ticket.request, ticket)

    def _spawn_and_follow(self, request: JobRequest, ticket: _Ticket) -> JobResult:
        if ticket.cancel.is_set():  # cancelled between leaving the queue and starting
            return JobResult("cancelled", error="cancelled before it started", error_code=CANCELLED)
        read_fd, write_fd = os.pipe()
        # the child's stdout and stderr come through a pipe of which only the last LOG_TAIL_BYTES are
        # kept (its last line explains a crash): a probe printing without end cannot fill a disk
        log_fd, log = os.pipe()
        tail = LogTail(log_fd)
        try:
            child = subprocess.Popen(
                # -P: the working directory is not put on the child's import path, so a rules.py or
                # probes/ there cannot replace traindoc's packages (the parent's path comes in the request)
                [
                    self.python,
                    "-P",
                    "-c",
                    "from assistant.jobs import worker_main; worker_main()",
                    str(write_fd),
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # its own process group: a kill reaches its DataLoader workers too
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "TRAINDOC_JOB_ID": request.job_id,
                    "TRAINDOC_PARENT_PID": str(os.getpid()),
                },
            )
        except BaseException:
            os.close(log_fd)
            raise
        finally:
            os.close(write_fd)
            os.close(log)
        with self._cond:
            self._children[request.job_id] = child
            if self._stopping:
                _kill(child)
        try:
            assert child.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # died at once: _follow reports why
                child.stdin.write((json.dumps(_request_json(request)) + "\n").encode())
                child.stdin.flush()
            return self._follow(request, ticket, child, read_fd, tail)
        finally:
            os.close(read_fd)
            os.close(log_fd)
            _kill(child)
            child.wait()
            _close_quietly(child.stdin)

    def _follow(
        self,
        request: JobRequest,
        ticket: _Ticket,
        child: subprocess.Popen[bytes],
        fd: int,
        log: LogTail,
    ) -> JobResult:
        deadline = time.monotonic() + request.timeout_s
        kill_at: float | None = None
        buffer = b""
        last: ProbeProgress | None = None
        final: dict[str, Any] | None = None
        poller = select.poll()  # not select(): a busy server's descriptors can be past FD_SETSIZE
        poller.register(fd, select.POLLIN)
        poller.register(log.fd, select.POLLIN)
        while final is None:
            now = time.monotonic()
            if ticket.cancel.is_set() and kill_at is None:
                _close_quietly(child.stdin)  # "stop": the child's should_stop() turns true
                kill_at = now + STOP_GRACE_S
            if kill_at is not None and now >= kill_at:
                return JobResult(
                    "cancelled", error="cancelled (the probe was killed)", progress=last, error_code=CANCELLED
                )
            if now >= deadline:
                return JobResult(
                    "failed",
                    error=f"timed out after {request.timeout_s:g} s (the probe was killed)",
                    progress=last,
                    error_code=JobTimedOut.code,
                )
            ready = dict(poller.poll(1000 * min(0.25, max(0.0, deadline - now))))
            if log.fd in ready and not log.read():
                poller.unregister(log.fd)  # the child closed its output (or died)
            if fd not in ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the child exited (or died) without a final message
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message["type"] == "progress":
                    last = ProbeProgress.model_validate(message["progress"])
                    self.on_progress(request.job_id, last)
                else:
                    final = message
                    break
        if final is None:
            code = child.wait()
            log.drain()
            if ticket.cancel.is_set():
                return JobResult("cancelled", error="cancelled", progress=last, error_code=CANCELLED)
            return JobResult(
                "failed", error=_death_message(code, log), progress=last, error_code=_death_code(code)
            )
        return _result(final, last)


def _result(message: dict[str, Any], last: ProbeProgress | None) -> JobResult:
    kind = message["type"]
    if kind == "result":
        return JobResult(
            "done",
            outcomes=[ProbeOutcome.model_validate(o) for o in message["outcomes"]],
            outcome=ProbeOutcome.model_validate(message["outcome"]),
            notes=list(message.get("notes", [])),
            progress=last,
        )
    code = message.get("code")
    if kind == "cancelled":
        return JobResult(
            "cancelled", error=message.get("message", "cancelled"), progress=last, error_code=code
        )
    error = message.get("message", "the probe failed")
    return JobResult("failed", error=error, progress=last, error_code=code or ProbeError.code)


def _request_json(request: JobRequest) -> dict[str, Any]:
    return {
        "job_id": request.job_id,
        "probe": request.probe,
        "setup": request.setup_spec,
        "options": request.options,
        "inputs": request.inputs,
        "notes": request.notes,
        "memory_mb": request.memory_mb,
        "sys_path": [p for p in sys.path if p],
        "cwd": os.getcwd(),
    }


LOG_TAIL_BYTES = 64 * 1024


class LogTail:
    """The end of a child's output: everything is read (so the child never blocks on a full pipe),
    only the last LOG_TAIL_BYTES are kept."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.total = 0
        os.set_blocking(fd, False)

    def read(self) -> bool:
        """Read what is there; False at the end of the output."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > LOG_TAIL_BYTES:
            del self.data[: len(self.data) - LOG_TAIL_BYTES]
        return True

    def drain(self) -> None:
        """After the child exited: what is left in the pipe (its grandchildren may hold it open)."""
        for _ in range(64):
            before = self.total
            if not self.read() or self.total == before:
                return

    def last_line(self, limit: int = 300) -> str:
        lines = [ln for ln in self.data.decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].strip()[:limit] if lines else ""


def _death_message(code: int, log: LogTail) -> str:
    tail = log.last_line()
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = " (killed by the system, most likely out of memory)" if -code == signal.SIGKILL else ""
        return f"the probe process died from signal {name}{why}" + (f": {tail}" if tail else "")
    return f"the probe process exited with code {code}" + (f": {tail}" if tail else "")


def _death_code(code: int) -> str:
    """The error code of a child that died without a word: SIGKILL is most likely the system's
    out-of-memory killer (the message says "most likely")."""
    return ProbeOutOfMemory.code if code == -signal.SIGKILL else ProbeError.code


def _kill(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)


def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(OSError, ValueError, BrokenPipeError):
        if stream is not None:
            stream.close()


# -- the child ---------------------------------------------------------------------------------------


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


def _die_with_parent() -> None:
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


def worker_main() -> None:
    """Entry point of a job's child process (see the module docstring for the protocol)."""
    _die_with_parent()
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
        outcomes, notes = _run_auto(request, ctx, should_stop)
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


def _run_auto(
    request: dict[str, Any], ctx: Any, should_stop: Callable[[], bool]
) -> tuple[list[ProbeOutcome], list[str]]:
    """Walk the flowchart on a copy of the session; return what was measured, in order.

    The server applies these outcomes to the session as it is when the job ends (the user may have
    answered meanwhile, and user answers win), so the copy here is only the starting point.
    """
    from pydantic import TypeAdapter

    from assistant.autorun import run_automatic
    from assistant.models import AnswerSource, SessionInput
    from assistant.session import Session

    adapter: TypeAdapter[list[SessionInput]] = TypeAdapter(list[SessionInput])
    session = Session(None, adapter.validate_python(request.get("inputs", [])))
    session.notes = list(request.get("notes", []))
    first_input, first_note = len(session.inputs), len(session.notes)
    returned = run_automatic(session, ctx, should_stop=should_stop)
    if should_stop():
        from probes.base import ProbeCancelled

        raise ProbeCancelled(AUTO)
    if isinstance(returned, list) and all(isinstance(o, ProbeOutcome) for o in returned):
        outcomes = list(returned)
    else:  # rebuild the outcomes from the evidence the walk recorded
        outcomes = _outcomes_from_inputs(session.inputs[first_input:], AnswerSource.user)
    return outcomes, session.notes[first_note:]


def _outcomes_from_inputs(inputs: list[Any], user: Any) -> list[ProbeOutcome]:
    from assistant.models import AnswerInput

    by_probe: dict[str, ProbeOutcome] = {}
    for item in inputs:
        if not isinstance(item, AnswerInput) or item.answer.source == user or item.answer.evidence is None:
            continue
        ev = item.answer.evidence
        name = ev.probe or "probe"
        if name not in by_probe:
            by_probe[name] = ProbeOutcome(
                probe=name,
                summary=ev.summary,
                rules=list(ev.rules),
                data=dict(ev.data),
                warnings=list(ev.warnings),
            )
        by_probe[name].answers[item.answer.question] = item.answer.value
    return list(by_probe.values())


def auto_summary(outcomes: list[ProbeOutcome]) -> ProbeOutcome:
    """One outcome for the job record of an automatic walk: every probe's findings side by side."""
    answers: dict[str, Any] = {}
    for o in outcomes:
        answers.update(o.answers)
    return ProbeOutcome(
        probe=AUTO,
        answers=answers,
        summary=" ".join(o.summary for o in outcomes if o.summary) or "no probe was needed",
        rules=[rule for o in outcomes for rule in o.rules],
        data={
            "probes": [o.probe for o in outcomes],
            "outcomes": [o.model_dump(mode="json") for o in outcomes],
        },
        warnings=[w for o in outcomes for w in o.warnings],
        seconds=sum(o.seconds for o in outcomes),
    )


def _failure(exc: BaseException, probe: str) -> dict[str, Any]:
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
