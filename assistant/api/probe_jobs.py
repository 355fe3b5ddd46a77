"""Probe jobs as the API sees them: create, follow (server-sent events), cancel, and finishing a job
into its session.

The runner's worker threads report back through the event loop (`call_soon_threadsafe`, in order), so
a job's state, its subscribers and the session it writes to are only touched on the loop thread.
A job that ends "done" is applied to its session and the job row is written in the SAME store unit,
before any subscriber hears "done".
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant import store as ops
from assistant.api.service import SessionService, new_id
from assistant.errors import ConflictError, InputError, NotFoundError, ServiceUnavailable
from assistant.jobs import AUTO, JobRequest, JobResult, JobRunner
from assistant.models import AnswerSource
from assistant.service_models import FINISHED, ProbeJob, ProbeJobCreate, ProbeJobEvent
from assistant.store import Store
from probes.base import ProbeProgress
from probes.curvature.options import service_bounds as curvature_bounds
from probes.registry import PROBES
from traindoc.errors import INTERNAL_ERROR, ProbeCancelled, TraindocError

CANCEL_WAIT_S = 15.0  # a cancel answers once the job has really stopped (the runner kills after 5 s)


@dataclass
class LiveJob:
    job: ProbeJob
    subscribers: set[asyncio.Queue[ProbeJobEvent | None]] = field(default_factory=set)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class JobService:
    def __init__(
        self,
        store: Store,
        sessions: SessionService,
        *,
        setups: Mapping[str, str],
        executors: Sequence[str] = ("local",),
        workers: int,
        max_queued: int,
        timeout_s: float,
        memory_mb: int | None,
        keepalive_s: float,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.setups = setups
        self.executors = tuple(executors)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.keepalive_s = keepalive_s
        self.live: dict[str, LiveJob] = {}
        self.runner = JobRunner(
            workers=workers,
            max_queued=max_queued,
            on_start=self._from_thread_start,
            on_progress=self._from_thread_progress,
            on_finish=self._from_thread_finish,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.runner.start()

    def close_streams(self) -> None:
        """End every event stream now (the server is stopping): a client sees the stream end and can
        ask again, instead of the stream being cancelled mid-write when the grace period runs out."""
        self._closing = True
        for live in self.live.values():
            for queue in list(live.subscribers):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    async def stop(self) -> None:
        """Kill running probes; what did not finish is recorded as interrupted, like after a crash."""
        left = await asyncio.to_thread(self.runner.stop)
        writes = []
        for job_id in left:
            live = self.live.pop(job_id, None)
            if live is not None:
                job = live.job.model_copy(
                    update={
                        "status": "interrupted",
                        "finished_at": ops.now(),
                        "error": "the server stopped",
                        "error_code": ServiceUnavailable.code,
                    }
                )
                writes.append(ops.save_job(job))
                self._publish(live, ProbeJobEvent(kind="done", job_id=job_id, job=job))
        if writes:
            with contextlib.suppress(Exception):
                await self.store.submit_async(writes)

    # -- requests -----------------------------------------------------------------------------------

    async def create(self, session_id: str, body: ProbeJobCreate) -> ProbeJob:
        live_session = self.sessions.live(session_id)
        setup = body.setup or live_session.record.setup
        if setup is None:
            raise InputError("this session has no setup: name one registered on the server", field="setup")
        if setup not in self.setups:
            raise NotFoundError(f"no setup named {setup!r} is registered on the server", field="setup")
        options = _check_options(body.probe, body.options)
        _check_executor(options, self.executors)
        self.runner.reserve()  # 429 now if the queue is full, before anything is written
        try:
            job = ProbeJob(
                id=new_id(),
                session_id=session_id,
                probe=body.probe,
                setup=setup,
                status="queued",
                created_at=ops.now(),
            )
            async with self.sessions.locked(session_id) as live_session:  # snapshot and insert atomically
                rec = live_session.record
                await self.store.submit_async([ops.save_job(job, options)])
                inputs = [i.model_dump(mode="json") for i in rec.inputs] if body.probe == AUTO else []
                notes = list(rec.notes)
        except BaseException:
            self.runner.release()
            raise
        self.live[job.id] = LiveJob(job)
        self.runner.submit(
            JobRequest(
                job_id=job.id,
                probe=body.probe,
                setup_spec=self.setups[setup],
                options=options,
                inputs=inputs,
                notes=notes,
                timeout_s=self.timeout_s,
                memory_mb=self.memory_mb,
            )
        )
        return job

    def get(self, job_id: str) -> ProbeJob:
        live = self.live.get(job_id)
        if live is not None:
            return live.job
        job = self.store.get_job(job_id) if len(job_id) <= 64 else None
        if job is None:
            raise NotFoundError(f"no probe job {job_id!r}", field="job_id")
        return job

    def list(self, session_id: str) -> list[ProbeJob]:
        self.sessions.live(session_id)  # 404 for an unknown session
        jobs = self.store.list_jobs(session_id)
        return [self.live[j.id].job if j.id in self.live else j for j in jobs]

    async def cancel(self, job_id: str) -> ProbeJob:
        job = self.get(job_id)
        if job.status in FINISHED:
            raise ConflictError(f"probe job {job_id} already finished ({job.status})", field="job_id")
        live = self.live.get(job_id)
        if live is None:  # it finished just now
            return self.get(job_id)
        if self.runner.cancel(job_id) == "dequeued":
            await self._finish(
                job_id,
                JobResult("cancelled", error="cancelled before it started", error_code=ProbeCancelled.code),
            )
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.finished.wait(), CANCEL_WAIT_S)
        return self.get(job_id)

    def cancel_session(self, session_id: str) -> None:
        """The session was deleted: its jobs stop, their followers hear so, and they are gone at once."""
        for job_id, live in list(self.live.items()):
            if live.job.session_id == session_id:
                self.runner.cancel(job_id)
                job = live.job.model_copy(
                    update={
                        "status": "cancelled",
                        "finished_at": ops.now(),
                        "error": "its session was deleted",
                        "error_code": ProbeCancelled.code,
                    }
                )
                self._publish(live, ProbeJobEvent(kind="done", job_id=job_id, job=job))
                del self.live[job_id]
                live.finished.set()

    def counts(self) -> tuple[int, int]:
        return self.runner.counts()

    async def events(self, job_id: str) -> AsyncIterator[bytes]:
        """Server-sent events: the job's state now, then progress as it comes, then `done`."""
        live = self.live.get(job_id)
        if live is None:  # finished already (or between the route's check and now)
            yield _sse(ProbeJobEvent(kind="done", job_id=job_id, job=self.get(job_id)))
            return
        if self._closing:
            return
        queue: asyncio.Queue[ProbeJobEvent | None] = asyncio.Queue(maxsize=256)
        live.subscribers.add(queue)
        try:
            yield _sse(ProbeJobEvent(kind="status", job_id=job_id, job=live.job, progress=live.job.progress))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.keepalive_s)
                except TimeoutError:
                    yield b": keep-alive\n\n"  # proxies and the client's read timeout see a live stream
                    continue
                if event is None:  # the server is stopping
                    return
                yield _sse(event)
                if event.kind == "done":
                    return
        finally:
            live.subscribers.discard(queue)

    # -- the runner's reports (worker threads -> loop) -----------------------------------------------

    def _from_thread_start(self, job_id: str) -> None:
        self._call(self._started, job_id)

    def _from_thread_progress(self, job_id: str, progress: ProbeProgress) -> None:
        self._call(self._progressed, job_id, progress)

    def _from_thread_finish(self, job_id: str, result: JobResult) -> None:
        assert self._loop is not None
        # wait: the worker takes its next job only once this one's result is on disk
        asyncio.run_coroutine_threadsafe(self._finish(job_id, result), self._loop).result(timeout=300)

    def _call(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed: the server is going away
            self._loop.call_soon_threadsafe(fn, *args)

    def _started(self, job_id: str) -> None:
        live = self.live.get(job_id)
        if live is None:
            return
        live.job = live.job.model_copy(update={"status": "running", "started_at": ops.now()})
        self.store.submit([ops.save_job(live.job)])  # not awaited: the writer keeps order
        self._publish(live, ProbeJobEvent(kind="status", job_id=job_id, job=live.job))

    def _progressed(self, job_id: str, progress: ProbeProgress) -> None:
        live = self.live.get(job_id)
        if live is None:
            return
        live.job = live.job.model_copy(update={"progress": progress})
        self._publish(live, ProbeJobEvent(kind="progress", job_id=job_id, progress=progress))

    async def _finish(self, job_id: str, result: JobResult) -> None:
        live = self.live.get(job_id)
        if live is None:
            return
        job = live.job.model_copy(
            update={
                "status": result.status,
                "outcome": result.outcome,
                "error": result.error,
                "error_code": result.error_code,
                "finished_at": ops.now(),
                "progress": result.progress or live.job.progress,
            }
        )
        try:
            if result.status == "done":
                await self.sessions.apply_outcomes(
                    job.session_id,
                    result.outcomes,
                    AnswerSource.probe,
                    notes=result.notes,
                    extra=[ops.save_job(job)],
                )
            else:
                await self.store.submit_async([ops.save_job(job)])
        except NotFoundError:
            pass  # the session was deleted while the probe ran: nothing left to record
        except Exception as exc:
            code = exc.code if isinstance(exc, TraindocError) else INTERNAL_ERROR
            failed = {"status": "failed", "error": f"could not record the result: {exc}", "error_code": code}
            job = job.model_copy(update=failed)
            with contextlib.suppress(Exception):
                await self.store.submit_async([ops.save_job(job)])
        live.job = job
        self._publish(live, ProbeJobEvent(kind="done", job_id=job_id, job=job))
        self.live.pop(job_id, None)
        live.finished.set()

    def _publish(self, live: LiveJob, event: ProbeJobEvent) -> None:
        for queue in list(live.subscribers):
            if queue.full():
                if event.kind == "progress":
                    continue  # a slow reader misses intermediate progress, never the end
                queue.get_nowait()
            queue.put_nowait(event)


def _sse(event: ProbeJobEvent) -> bytes:
    return f"event: {event.kind}\ndata: {event.model_dump_json()}\n\n".encode()


def _check_executor(options: Mapping[str, Any], allowed: Sequence[str], where: str = "options") -> None:
    """An executor other than the server's own processes only where the operator allowed it."""
    for name, value in options.items():
        if isinstance(value, Mapping):  # the auto probe's options per probe
            _check_executor(value, allowed, f"{where}.{name}")
        elif name == "executor" and value != "local" and "*" not in allowed and value not in allowed:
            kind = "ray" if value == "ray" else "ray://HOST:PORT"
            raise InputError(
                f"this server runs probes on its own machine only (executor {value!r} not allowed); "
                f"its operator can allow it with `traindoc serve --allow-executor {kind}`",
                field=f"{where}.executor",
            )


def _check_options(probe: str, options: dict[str, Any]) -> dict[str, Any]:
    """The probe must exist here and its options must be the registry's, with the right types."""
    if probe == AUTO:
        if importlib.util.find_spec("assistant.autorun") is None:
            raise ServiceUnavailable(
                "automatic diagnosis (assistant.autorun) is not available in this installation"
            )
        # per probe, by name: {"depth": {"seeds": 1}, "curvature": {"density": true}} (the TUI's `a`
        # with the options set in its form); each checked as that probe's own options
        out_auto: dict[str, Any] = {}
        for name, given in options.items():
            if name not in PROBES or name == "remedies" or not isinstance(given, dict):
                walked = ", ".join(p for p in PROBES if p != "remedies")
                raise InputError(
                    f"the auto probe takes options per probe it runs ({walked}), e.g. "
                    '{"depth": {"seeds": 1}}',
                    field=f"options.{name}",
                )
            out_auto[name] = _check_options(name, given)
        return out_auto
    spec = PROBES.get(probe)
    if spec is None:
        known = ", ".join([*PROBES, AUTO])
        raise InputError(f"unknown probe {probe!r} (known: {known})", field="probe")
    if importlib.util.find_spec(spec.target.partition(":")[0]) is None:
        raise ServiceUnavailable(f"the {probe} probe is not available in this installation")
    declared = {opt.name: opt for opt in spec.options}
    out: dict[str, Any] = {}
    for name, value in options.items():
        opt = declared.get(name)
        if opt is None:
            allowed = ", ".join(declared) or "none"
            raise InputError(
                f"the {probe} probe has no option {name!r} (options: {allowed})", field=f"options.{name}"
            )
        out[name] = _coerce(probe, opt, value)
    return out


# Bounds on what a client may ask a probe to spend, so one request cannot hold the only worker for the
# whole job timeout (`seeds=1000000`, `depths="0,5000"`) or record a meaningless verdict
# (`gradient_threshold=Infinity` made every gradient "small"). Inclusive (low, high); floats must also
# be finite. An option missing here is still type-checked and, if a number, required to be finite.
OPTION_BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("depth", "seeds"): (1, 8),
    # the curvature probe's bounds live with its options (probes/curvature/options.py)
    **{("curvature", name): bounds for name, bounds in curvature_bounds().items()},
}
DEPTH_BOUNDS = (1, 64)  # each depth of a ladder
MAX_DEPTHS = 12  # depths in a ladder


def _coerce(probe: str, opt: Any, value: Any) -> Any:
    value = _coerce_type(probe, opt, value)
    field_name = f"options.{opt.name}"
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{probe} option {opt.name} must be a finite number", field=field_name)
    bounds = OPTION_BOUNDS.get((probe, opt.name))
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise InputError(
            f"{probe} option {opt.name} must be between {bounds[0]:g} and {bounds[1]:g}", field=field_name
        )
    if (probe, opt.name) == ("depth", "depths"):
        _check_depths(value, field_name)
    return value


def _check_depths(value: str, field_name: str) -> None:
    try:
        depths = [int(part) for part in value.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(
            "depth option depths must be comma-separated integers like 1,2,3", field=field_name
        ) from None
    low, high = DEPTH_BOUNDS
    if not depths or len(depths) > MAX_DEPTHS or any(not low <= d <= high for d in depths):
        raise InputError(
            f"depth option depths must be 1 to {MAX_DEPTHS} integers between {low} and {high}",
            field=field_name,
        )


def _coerce_type(probe: str, opt: Any, value: Any) -> Any:
    field_name = f"options.{opt.name}"
    ok = (
        (opt.type is bool and isinstance(value, bool))
        or (opt.type is int and isinstance(value, int) and not isinstance(value, bool))
        or (opt.type is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (opt.type is str and isinstance(value, str) and len(value) <= 200)
        or (isinstance(value, str) and value in getattr(opt, "words", ()))
    )
    if not ok:
        raise InputError(f"{probe} option {opt.name} must be a {opt.type.__name__}", field=field_name)
    if opt.choices and value not in opt.choices:
        raise InputError(
            f"{probe} option {opt.name} must be one of {', '.join(opt.choices)}", field=field_name
        )
    return float(value) if opt.type is float else value
