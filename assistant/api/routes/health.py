"""`GET /health`: liveness and readiness (open without a token; says nothing about sessions)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from assistant.api.deps import Jobs, Sessions
from assistant.service_models import Health

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("traindoc")
    except PackageNotFoundError:
        return "unknown"


VERSION = _version()


@router.get("/health", response_model=Health)
async def health(sessions: Sessions, jobs: Jobs) -> Health:
    running, queued = jobs.counts()
    return Health(
        version=VERSION, schema_version=sessions.store.version, jobs_running=running, jobs_queued=queued
    )
