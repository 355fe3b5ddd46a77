"""Answers: answer, change (re-answer; the path re-flows), withdraw, undo, and evidence from a history."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistant.api.deps import ServiceSettings, Sessions, sessions_of
from assistant.api.responses import JSONBytes, errors
from assistant.models import AnswerSource
from assistant.service_models import AnswerChange, AnswerCreate, HistoryApply, OutcomeApply, SessionPublic

router = APIRouter(prefix="/sessions/{session_id}", tags=["answers"])


@router.post("/answers", response_model=SessionPublic, responses=errors(404, 409, 422))
async def answer(session_id: str, body: AnswerCreate, request: Request) -> Response:
    """Answer a question on the path; a different value for an answered question is refused (use PUT)."""
    return JSONBytes(
        await sessions_of(request).answer(session_id, body.question, body.value, body.note, change=False)
    )


@router.put("/answers/{question}", response_model=SessionPublic, responses=errors(404, 409, 422))
async def change_answer(session_id: str, question: str, body: AnswerChange, sessions: Sessions) -> Response:
    return JSONBytes(await sessions.answer(session_id, question, body.value, body.note, change=True))


@router.delete("/answers/{question}", response_model=SessionPublic, responses=errors(404, 422))
async def withdraw_answer(session_id: str, question: str, sessions: Sessions) -> Response:
    return JSONBytes(await sessions.withdraw(session_id, question))


@router.post("/undo", response_model=SessionPublic, responses=errors(404, 422))
async def undo(session_id: str, sessions: Sessions) -> Response:
    return JSONBytes(await sessions.undo(session_id))


@router.post("/history", response_model=SessionPublic, responses=errors(404, 422, 503))
async def apply_history(
    session_id: str, body: HistoryApply, sessions: Sessions, settings: ServiceSettings
) -> Response:
    """Read a server-registered training history and record what it answers (source: history)."""
    return JSONBytes(
        await sessions.apply_history(
            session_id, body.history, settings.job_timeout_s, classes=body.classes, baseline=body.baseline
        )
    )


@router.post("/outcomes", response_model=SessionPublic, responses=errors(404, 409, 422))
async def apply_outcome(session_id: str, body: OutcomeApply, sessions: Sessions) -> Response:
    """Record an outcome measured by the client (a watched run: `assistant.watch`) as evidence."""
    return JSONBytes(
        await sessions.apply_outcomes(
            session_id, [body.outcome], AnswerSource(body.source), notes=[n[:2000] for n in body.notes]
        )
    )
