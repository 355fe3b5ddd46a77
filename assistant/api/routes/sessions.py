"""Sessions: create, list, read, delete, the report, and the curves a client watched live."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from assistant.api.deps import Jobs, Sessions, sessions_of
from assistant.api.responses import JSONBytes, ModelResponse, errors, list_response
from assistant.models import Report
from assistant.service_models import SessionCreate, SessionCurves, SessionPublic, SessionSummary

router = APIRouter(prefix="/sessions", tags=["sessions"])
_summaries: TypeAdapter[list[SessionSummary]] = TypeAdapter(list[SessionSummary])


@router.post("", response_model=SessionPublic, status_code=201, responses=errors(404, 422))
async def create_session(request: Request, body: SessionCreate | None = None) -> Response:
    return JSONBytes(await sessions_of(request).create(body or SessionCreate()), status_code=201)


@router.get("", response_model=list[SessionSummary])
async def list_sessions(
    sessions: Sessions, limit: Annotated[int, Query(ge=1, le=1000, description="newest first")] = 100
) -> Response:
    return list_response(sessions.summaries(limit), _summaries)


@router.get("/{session_id}", response_model=SessionPublic, responses=errors(404))
async def get_session(session_id: str, sessions: Sessions) -> Response:
    return JSONBytes(sessions.get(session_id))


@router.delete("/{session_id}", status_code=204, responses=errors(404))
async def delete_session(session_id: str, sessions: Sessions, jobs: Jobs) -> Response:
    await sessions.delete(session_id)
    jobs.cancel_session(session_id)
    return Response(status_code=204)


@router.get("/{session_id}/report", response_model=Report, responses=errors(404))
async def get_report(session_id: str, request: Request) -> Response:
    return JSONBytes(sessions_of(request).report(session_id))


@router.get("/{session_id}/curves", response_model=SessionCurves, responses=errors(404))
async def get_curves(session_id: str, request: Request) -> Response:
    """The curves a client drew live while this session's probes ran (empty when none were stored)."""
    return ModelResponse(sessions_of(request).curves(session_id))


@router.put("/{session_id}/curves", response_model=SessionCurves, responses=errors(404, 422))
async def put_curves(session_id: str, body: SessionCurves, request: Request) -> Response:
    """Replace the session's stored live curves (the TUI sends them after each probe)."""
    return ModelResponse(await sessions_of(request).save_curves(session_id, body))
