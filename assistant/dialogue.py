"""A conversation over a session: messages in, events out. Shared by `chat --jsonl`, the API and the TUI.

A `complete` event (with the report) follows the events that end the walk, so a script knows when
to stop reading; a later change that alters the findings of a complete walk emits another.

Events are computed by diffing the derived state before and after each message, so a change of
answer that moves the session to another branch emits `finding_withdrawn` for every stale finding.
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from assistant.errors import InputError, TraindocError
from assistant.models import (
    AnswerMessage,
    AnswerRecorded,
    ChangeMessage,
    ChatEvent,
    ChatMessage,
    DiagnosisComplete,
    ErrorEvent,
    FindingReached,
    FindingWithdrawn,
    QuestionAsked,
    Report,
    ReportReady,
    UndoMessage,
    WithdrawMessage,
)
from assistant.session import Session

_messages: TypeAdapter[ChatMessage] = TypeAdapter(ChatMessage)


def parse_message(raw: str | bytes | dict[str, object]) -> ChatMessage:
    """Validate one protocol message; the error names the offending field."""
    try:
        if isinstance(raw, dict):
            return _messages.validate_python(raw)
        return _messages.validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(
            str(p) for p in err["loc"] if p not in ("answer", "change", "withdraw", "undo", "report")
        )
        if err["type"] == "json_invalid":
            raise InputError(f"message is not valid JSON: {err['msg']}") from None
        if err["type"] in ("union_tag_invalid", "union_tag_not_found", "model_attributes_type"):
            raise InputError(
                "message must be a JSON object with type answer, change, withdraw, undo or report",
                field="type",
            ) from None
        raise InputError(f"message field {loc or 'type'}: {err['msg']}", field=loc or "type") from None


class Dialogue:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._pending: list[str] = []
        self._findings: list[str] = []
        self._complete: list[str] | None = None  # the findings when the walk last ended; None: open

    def start(self) -> list[ChatEvent]:
        return self._diff()

    def handle(self, message: ChatMessage) -> list[ChatEvent]:
        s = self.session
        if isinstance(message, AnswerMessage):
            ans = s.answer(message.question, message.value, note=message.note)
            return [AnswerRecorded(answer=ans), *self._diff()]
        if isinstance(message, ChangeMessage):
            if message.question not in s.current_answers():
                raise InputError(
                    f"{message.question} has no answer to change; send an answer", field="question"
                )
            ans = s.answer(message.question, message.value, note=message.note, replace=True)
            return [AnswerRecorded(answer=ans), *self._diff()]
        if isinstance(message, WithdrawMessage):
            s.withdraw(message.question)
            return self._diff()
        if isinstance(message, UndoMessage):
            s.undo()
            return self._diff()
        return [ReportReady(report=self.report())]

    def handle_raw(self, raw: str | bytes | dict[str, object]) -> list[ChatEvent]:
        """Like handle, but any user error becomes an `error` event and the session is unchanged."""
        try:
            return self.handle(parse_message(raw))
        except TraindocError as exc:
            return [ErrorEvent(message=exc.message, field=exc.field, code=exc.code)]

    def report(self) -> Report:
        return self.session.report()

    def _diff(self) -> list[ChatEvent]:
        report = self.session.report()
        events: list[ChatEvent] = []
        now_findings = [f.id for f in report.findings]
        for fid in self._findings:
            if fid not in now_findings:
                events.append(FindingWithdrawn(id=fid, reason="an answer it depended on changed"))
        for f in report.findings:
            if f.id not in self._findings:
                events.append(FindingReached(finding=f))
        now_pending = [q.id for q in report.pending]
        for q in report.pending:
            if q.id not in self._pending:
                events.append(QuestionAsked(question=q))
        self._pending, self._findings = now_pending, now_findings
        # on arriving at the end of the walk, and again when a change there alters its findings
        if report.complete and self._complete != now_findings:
            events.append(DiagnosisComplete(report=report))
        self._complete = now_findings if report.complete else None
        return events
