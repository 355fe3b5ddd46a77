"""The app factory. Nothing is created at import: the store, the job runner and the caches live in the
lifespan, so one process can host several apps (tests, the embedded client) without sharing state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api import errors, openapi
from assistant.api.histories import HistoryReader
from assistant.api.hot_path import ROUTE, HotPath, route_of
from assistant.api.probe_jobs import JobService
from assistant.api.routes import answers, catalog, health, jobs, points, sessions
from assistant.api.security import Guard
from assistant.api.service import SessionService
from assistant.api.settings import Settings, host_names
from assistant.store import Store


class TraindocApp(FastAPI):
    """FastAPI, with the answer path's requests let in ahead of FastAPI's own middleware stack.

    Why: on the answer path's three requests, FastAPI's and Starlette's layers in front of the Guard
    (the app's `__call__`, the server-error middleware wrapping every `send`, the telemetry check,
    which reads the environment on every request, the body-limit wrapper) cost more Python than the
    Guard and the hot path together (opcode counts, docs/service.md). `fast_lane` is the same Guard
    and `HotPath`, set at start-up only when nobody traces requests (FastAPI's OpenTelemetry bridge
    is off: no provider configured), so no span is lost; every other request, and every request when
    it is unset, goes through the whole stack as before.
    """

    fast_lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.fast_lane
        found = route_of(scope) if lane is not None and not self.root_path else None
        if lane is None or found is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # as Starlette sets it: the hot path finds the services there
        scope[ROUTE] = found  # the hot path takes it from here rather than splitting the path again
        try:
            await lane(scope, receive, send)
        except Exception as exc:  # what the server-error middleware did: a bug, logged, one line
            await errors._logged_internal(exc)(scope, receive, send)


def _traced(app: FastAPI) -> bool:
    """Whether FastAPI's own telemetry would record requests now (older FastAPI: it has none)."""
    telemetry = getattr(app, "_native_telemetry", None)
    return telemetry is not None and bool(telemetry.enabled())


def create_app(settings: Settings) -> TraindocApp:
    settings.check()
    hosts = host_names(settings)

    def door(inner: ASGIApp) -> Guard:  # the fast lane's Guard: the one of the stack's, same settings
        return Guard(inner, token=settings.token, max_body_bytes=settings.max_body_bytes, hosts=hosts)

    @asynccontextmanager
    async def lifespan(app: TraindocApp) -> AsyncIterator[None]:
        store = await asyncio.to_thread(Store(settings.db_path, synchronous=settings.synchronous).open)
        session_service = SessionService(
            store,
            setups=settings.setups,
            histories=settings.histories,
            cache_size=settings.session_cache,
            max_inputs=settings.max_inputs,
            history_reader=HistoryReader(
                max_bytes=settings.history_max_bytes,
                memory_mb=settings.history_memory_mb,
                cache_size=settings.history_cache,
            ),
        )
        job_service = JobService(
            store,
            session_service,
            setups=settings.setups,
            executors=settings.executors,
            workers=settings.job_workers,
            max_queued=settings.job_queue,
            timeout_s=settings.job_timeout_s,
            memory_mb=settings.job_memory_mb,
            keepalive_s=settings.sse_keepalive_s,
        )
        job_service.start(asyncio.get_running_loop())
        app.state.settings, app.state.sessions, app.state.jobs = settings, session_service, job_service
        if any(m.cls is HotPath for m in app.user_middleware) and not _traced(app):
            # the Guard first, as inside; a request HotPath does not take falls back to the stack
            app.fast_lane = door(HotPath(super(TraindocApp, app).__call__))
        try:
            yield
        finally:
            app.fast_lane = None
            await job_service.stop()
            await asyncio.to_thread(store.close)

    app = TraindocApp(
        title="traindoc",
        summary="Diagnose why a neural network trains badly: sessions, answers, probe jobs.",
        version=health.VERSION,
        lifespan=lifespan,
    )
    # added first, so it runs inside the Guard: every request still passes the door
    app.add_middleware(HotPath)
    app.add_middleware(Guard, token=settings.token, max_body_bytes=settings.max_body_bytes, hosts=hosts)
    errors.install(app)
    # routes are matched in order, one regular expression each: the answer path's first (answers,
    # then sessions) roughly halves the matching work per request (benchmarks/bench_app_cpu.py)
    for module in (answers, sessions, jobs, points, catalog, health):
        app.include_router(module.router)
    openapi.install(app, token_required=settings.token is not None)  # the bearer scheme, the event stream
    return app
