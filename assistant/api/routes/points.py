"""Curve points of a watched run, streamed while it trains (issue 16): append a batch, read them back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from assistant.api.deps import Sessions
from assistant.api.responses import ModelResponse, errors
from assistant.service_models import CurvePoint, PointsAppend, PointsPage

router = APIRouter(prefix="/sessions/{session_id}", tags=["points"])


@router.post("/points", response_model=PointsPage, responses=errors(404, 409, 422))
async def append_points(session_id: str, body: PointsAppend, sessions: Sessions) -> Response:
    """Store a batch of curve points (and the alerts raised with them, as session notes)."""
    total = await sessions.add_points(
        session_id,
        [(p.name, p.step, p.value) for p in body.points],
        [a[:2000] for a in body.alerts],
    )
    return ModelResponse(PointsPage(session_id=session_id, total=total, next=total, points=[]))


@router.get("/points", response_model=PointsPage, responses=errors(404, 422))
async def get_points(
    session_id: str,
    sessions: Sessions,
    after: Annotated[int, Query(ge=0, description="the first point's position (0: from the start)")] = 0,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
) -> Response:
    """The session's curve points in arrival order, a page at a time (poll with `after=next`)."""
    total, rows = sessions.points(session_id, after, limit)
    points = [CurvePoint(name=name, step=step, value=value) for _, name, step, value in rows]
    return ModelResponse(
        PointsPage(session_id=session_id, total=total, next=after + len(points), points=points)
    )
