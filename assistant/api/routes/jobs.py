"""Probe jobs: start one on a session, list a session's, read, follow as server-sent events, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from assistant.api.deps import Jobs
from assistant.api.responses import ModelResponse, errors, list_response
from assistant.service_models import ProbeJob, ProbeJobCreate

router = APIRouter(tags=["probe jobs"])
_jobs: TypeAdapter[list[ProbeJob]] = TypeAdapter(list[ProbeJob])


@router.post(
    "/sessions/{session_id}/jobs",
    response_model=ProbeJob,
    status_code=202,
    responses=errors(404, 422, 429, 503),
)
async def start_job(session_id: str, body: ProbeJobCreate, jobs: Jobs) -> Response:
    """Queue a probe (or `auto`, the whole automatic walk) on a setup registered on the server."""
    return ModelResponse(await jobs.create(session_id, body), status_code=202)


@router.get("/sessions/{session_id}/jobs", response_model=list[ProbeJob], responses=errors(404))
async def list_jobs(session_id: str, jobs: Jobs) -> Response:
    return list_response(jobs.list(session_id), _jobs)


@router.get("/jobs/{job_id}", response_model=ProbeJob, responses=errors(404))
async def get_job(job_id: str, jobs: Jobs) -> Response:
    return ModelResponse(jobs.get(job_id))


@router.get(
    "/jobs/{job_id}/events",
    responses={
        200: {
            "description": "server-sent events, each `data:` a ProbeJobEvent",
            "content": {"text/event-stream": {}},
        },
        **errors(404),
    },
)
async def follow_job(job_id: str, jobs: Jobs) -> StreamingResponse:
    jobs.get(job_id)  # 404 now, while a status code can still be sent
    return StreamingResponse(
        jobs.events(job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/jobs/{job_id}/cancel", response_model=ProbeJob, responses=errors(404, 409))
async def cancel_job(job_id: str, jobs: Jobs) -> Response:
    """Stop a job; answers once it has stopped (a probe that ignores the request is killed)."""
    return ModelResponse(await jobs.cancel(job_id))
