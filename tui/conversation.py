"""The TUI's only door to the assistant: a `TraindocClient` and one session id.

Synchronous (called from thread workers, never on the event loop). It decides the small things the
screen should not: whether a new value is an answer or a change, which claims from free text the
path accepts now, and what the session can measure with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from assistant.errors import InputError, TraindocError
from assistant.models import Report
from assistant.service_models import PointsPage, ProbeJob, ProbeJobEvent, SessionPublic
from rules import KNOWLEDGE
from tui.answer_parsing import Claim
from tui.transcript import Sources

if TYPE_CHECKING:
    from assistant.client import TraindocClient


@dataclass
class ClaimsResult:
    session: SessionPublic
    sent: list[Claim] = field(default_factory=list)
    remembered: list[Claim] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def accepts(report: Report, question: str) -> bool:
    """Whether the path takes an answer to `question` now (pending, answered, or measurement-only)."""
    spec = KNOWLEDGE.questions.get(question)
    if spec is not None and not spec.asked:
        return True
    return question in report.answers or any(q.id == question for q in report.pending)


class Conversation:
    def __init__(
        self, client: TraindocClient, *, setup: str | None = None, history: str | None = None
    ) -> None:
        self.client = client
        self.setup = setup
        self.history = history
        self.session_id: str | None = None
        self.sources = Sources()

    # -- sessions -----------------------------------------------------------------------------

    def open(self, *, resume: bool, session_id: str | None = None) -> tuple[SessionPublic, bool]:
        """The session `session_id` (`--resume ID`: a watched run streaming to the service, say), else
        the latest session when resuming (and one exists), else a new one. Returns (session, resumed)."""
        if session_id is not None:
            return self._use(self.client.get_session(session_id)), True
        if resume:
            sessions = self.client.list_sessions()
            if sessions:
                return self._use(self.client.get_session(sessions[0].id)), True
        return self.new(), False

    def new(self) -> SessionPublic:
        return self._use(self.client.create_session(setup=self.setup, history=self.history))

    def refresh(self) -> SessionPublic:
        return self.client.get_session(self._id())

    def _use(self, session: SessionPublic) -> SessionPublic:
        self.session_id = session.id
        setups = {s.name for s in self.client.list_setups()}
        histories = {h.name for h in self.client.list_histories()}
        self.sources = Sources(
            setup=session.setup if session.setup in setups else None,
            history=session.history if session.history in histories else None,
            failed=self.sources.failed,  # the setup is the same: a failed probe would fail again
        )
        return session

    def _id(self) -> str:
        if self.session_id is None:
            raise InputError("no session is open")
        return self.session_id

    def points(self, after: int = 0) -> PointsPage:
        """The session's streamed curve points from position `after` on (a watched run, `server=`)."""
        return self.client.points(self._id(), after=after)

    # -- answers ------------------------------------------------------------------------------

    def answer(self, report: Report, question: str, value: str, note: str | None = None) -> SessionPublic:
        """Answer, or change the answer when the question already has one (a 'not sure', a probe's)."""
        existing = report.answers.get(question) or report.inactive_answers.get(question)
        if existing is None:
            return self.client.answer(self._id(), question, value, note)
        return self.client.change(self._id(), question, value, note)

    def withdraw(self, question: str) -> SessionPublic:
        return self.client.withdraw(self._id(), question)

    def undo(self) -> SessionPublic:
        return self.client.undo(self._id())

    def send_claims(self, report: Report, claims: Sequence[Claim], note: str | None) -> ClaimsResult:
        """Send claims in flowchart order; those the path does not reach yet are remembered."""
        session: SessionPublic | None = None
        sent: list[Claim] = []
        remembered: list[Claim] = []
        errors: list[str] = []
        for claim in claims:
            existing = report.answers.get(claim.question)
            if existing is not None and existing.value == claim.value:
                continue
            if not accepts(report, claim.question):
                remembered.append(claim)
                continue
            try:
                session = self.answer(report, claim.question, claim.value, note)
            except TraindocError as exc:
                errors.append(exc.message)
                continue
            report = session.report
            sent.append(claim)
        return ClaimsResult(session or self.refresh(), sent, remembered, errors)

    # -- measuring ----------------------------------------------------------------------------

    def apply_history(self, *, classes: int | None = None, baseline: float | None = None) -> SessionPublic:
        """`classes` / `baseline`: facts the user told that the file does not show (its `needs`)."""
        if self.sources.history is None:
            raise InputError("no training history is loaded (start with traindoc --history PATH)")
        return self.client.apply_history(self._id(), self.sources.history, classes=classes, baseline=baseline)

    def mark_failed(self, probe: str) -> None:
        self.sources = replace(self.sources, failed=self.sources.failed | {probe})

    def start_probe(self, probe: str, options: dict[str, Any] | None = None) -> ProbeJob:
        if self.sources.setup is None:
            raise InputError("no setup is loaded (start with traindoc --setup FILE.py:FUNC or --demo NAME)")
        return self.client.start_job(self._id(), probe, setup=self.sources.setup, options=options)

    def follow(self, job_id: str) -> Iterator[ProbeJobEvent]:
        return self.client.follow_job(job_id)

    def cancel(self, job_id: str) -> ProbeJob:
        return self.client.cancel_job(job_id)
