"""Probe jobs, the parent side: a bounded queue, one child process per job, timeouts, cancellation.

Why a process per job: a probe runs the user's code, which may raise, exhaust memory, or hang in C code
that never checks `should_stop()`. In a child process all three stay contained: the server reads its
progress from a pipe, kills it when its time is up, and keeps serving. Each child has its own rule
engine, so the server's engine (not thread-safe) is never touched by a job. The child's side is
worker.py; what goes over the pipes, protocol.py.

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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.errors import ServiceUnavailable
from assistant.jobs.child_log import LogTail, death_code, death_message
from assistant.jobs.protocol import CHILD_CODE, STOP_GRACE_S
from probes.base import ProbeOutcome, ProbeProgress
from traindoc.errors import (
    INTERNAL_ERROR,
    JobTimedOut,
    ProbeCancelled,
    ProbeError,
)
from traindoc.errors import JobQueueFull as JobQueueFull  # its home is the one error tree

CANCELLED = ProbeCancelled.code  # a job's error_code when it was stopped


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
                result = self._spawn_and_follow(ticket.request, ticket)
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
                    CHILD_CODE,
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
                "failed", error=death_message(code, log), progress=last, error_code=death_code(code)
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


def _kill(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)


def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(OSError, ValueError, BrokenPipeError):
        if stream is not None:
            stream.close()
