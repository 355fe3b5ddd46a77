"""Dependencies as `Annotated` aliases: routes declare what they need, the app state provides it.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and that
thread hop cost more than the rest of an answer request (measured with cProfile under load).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.probe_jobs import JobService
from assistant.api.service import SessionService
from assistant.api.settings import Settings


async def _sessions(request: Request) -> SessionService:
    return request.app.state.sessions


async def _jobs(request: Request) -> JobService:
    return request.app.state.jobs


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


Sessions = Annotated[SessionService, Depends(_sessions)]
Jobs = Annotated[JobService, Depends(_jobs)]
ServiceSettings = Annotated[Settings, Depends(_settings)]


def sessions_of(request: Request) -> SessionService:
    """For the answer path's routes, which take `request: Request` instead of `Sessions`: FastAPI
    solves each `Depends` as a sub-dependency on every request, and on the hot path (create, answer,
    report) that was about a fifth of the server's CPU per request (cProfile, benchmarks/bench_app_cpu.py)."""
    return request.app.state.sessions
