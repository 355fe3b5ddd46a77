"""The app factory. Nothing is created at import: the store, the job runner and the caches live in the
lifespan, so one process can host several apps (tests, the embedded client) without sharing state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assistant.api import errors, openapi
from assistant.api.histories import HistoryReader
from assistant.api.hot_path import HotPath
from assistant.api.probe_jobs import JobService
from assistant.api.routes import answers, catalog, health, jobs, points, sessions
from assistant.api.security import Guard
from assistant.api.service import SessionService
from assistant.api.settings import Settings, host_names
from assistant.store import Store


def create_app(settings: Settings) -> FastAPI:
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        try:
            yield
        finally:
            await job_service.stop()
            await asyncio.to_thread(store.close)

    app = FastAPI(
        title="traindoc",
        summary="Diagnose why a neural network trains badly: sessions, answers, probe jobs.",
        version=health.VERSION,
        lifespan=lifespan,
    )
    # added first, so it runs inside the Guard: every request still passes the door
    app.add_middleware(HotPath)
    app.add_middleware(
        Guard, token=settings.token, max_body_bytes=settings.max_body_bytes, hosts=host_names(settings)
    )
    errors.install(app)
    # routes are matched in order, one regular expression each: the answer path's first (answers,
    # then sessions) roughly halves the matching work per request (benchmarks/bench_app_cpu.py)
    for module in (answers, sessions, jobs, points, catalog, health):
        app.include_router(module.router)
    openapi.install(app, token_required=settings.token is not None)  # the bearer scheme, the event stream
    return app
