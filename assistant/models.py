"""The one schema: pydantic models shared by the CLI's JSON, the API, the line protocol and the TUI."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rules.schema import AnswerValue  # the one definition of the answer values

SCHEMA_VERSION = 1


class AnswerSource(StrEnum):
    user = "user"
    probe = "probe"
    history = "history"


def _now() -> datetime:
    return datetime.now(UTC)


class Evidence(BaseModel):
    """What a measurement showed: a summary for people, the rules applied, and the raw numbers."""

    source: AnswerSource
    probe: str | None = Field(
        None, description="probe name (curvature, depth, baselines, generalization, history)"
    )
    summary: str = ""
    rules: list[str] = Field(default_factory=list, description="decision rules applied, with their numbers")
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="the measurement's full result: the probe's result model "
        "(`traindoc schema --kind probes`), the same object as `data` in `traindoc probe NAME --json`",
    )
    warnings: list[str] = Field(default_factory=list)

    @property
    def result(self) -> Any:
        """`data` as its probe's typed result (probes/results.py); None for a probe without one, or a
        result saved by an older version that no longer fits (readers then show nothing, not a crash)."""
        from pydantic import ValidationError

        from probes.results import result_model

        model = result_model(self.probe or "")
        if model is None or not self.data:
            return None
        try:
            return model.model_validate(self.data)
        except ValidationError:
            return None


class Answer(BaseModel):
    # never changed once made (a change is a new answer): the service keeps each answer's JSON per
    # object (assistant/api/report_bytes.py, assistant/store.py), so a change in place would be stale
    model_config = ConfigDict(frozen=True)

    question: str
    value: AnswerValue
    source: AnswerSource = AnswerSource.user
    evidence: Evidence | None = None
    note: str | None = Field(None, description="free text the user gave with the answer")
    at: datetime = Field(default_factory=_now)


# -- Session inputs: the only state a session has; everything else is derived by replay. ---------


class AnswerInput(BaseModel):
    model_config = ConfigDict(frozen=True)  # serialised once per object (assistant/store.py)

    type: Literal["answer"] = "answer"
    answer: Answer


class WithdrawInput(BaseModel):
    model_config = ConfigDict(frozen=True)  # serialised once per object (assistant/store.py)

    type: Literal["withdraw"] = "withdraw"
    question: str
    at: datetime = Field(default_factory=_now)


SessionInput = Annotated[AnswerInput | WithdrawInput, Field(discriminator="type")]


# -- Derived views ---------------------------------------------------------------------------------


class QuestionPublic(BaseModel):
    # built once and shared by every report that shows it (assistant/session.py): frozen
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    help: str
    choices: list[str]
    probe: str | None = Field(None, description="the probe that can measure the answer")
    measured_by: list[str] = Field(
        default_factory=list,
        description="every probe that can measure the answer, the one to run first; "
        "'history' means a training history's reader (`traindoc history`) can answer it",
    )
    lecture: str = ""
    measured_only: bool = Field(
        False, description="true for questions a measurement answers (never put to the user as a prompt)"
    )


class Reason(BaseModel):
    """One rule application in the chain that led to a finding."""

    model_config = ConfigDict(frozen=True)  # part of a shared Finding

    rule: str
    says: str
    answers: dict[str, str] = Field(default_factory=dict, description="the answers this rule matched")
    findings: list[str] = Field(default_factory=list, description="earlier findings this rule built on")


class Finding(BaseModel):
    # built once and shared by every report that shows it (assistant/session.py): frozen
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    kind: Literal["diagnosis", "warning", "done"]
    explanation: str
    remedies: list[str]
    because: list[Reason] = Field(description="the chain of rules, from the first question to this finding")
    confirmed_by: list[str] = Field(description="probes or evidence that would confirm it")
    evidence: list[Evidence] = Field(default_factory=list, description="measurements behind its answers")
    lecture: str = Field("", description="the part of the lecture this comes from")
    lecture_url: str = Field("", description="where to watch or read that lecture")


class Disagreement(BaseModel):
    """A user's answer kept over a measurement that said otherwise: the user wins, the report says so."""

    question: str
    value: AnswerValue = Field(description="the answer in force (the user's)")
    measured: AnswerValue = Field(description="what the measurement answered")
    source: AnswerSource = Field(description="where the measurement came from (probe or history)")
    probe: str | None = Field(None, description="the probe or reader that measured it")
    summary: str = Field("", description="the measurement's one-line summary")
    evidence: Evidence | None = Field(None, description="the measurement's full evidence")


class Report(BaseModel):
    model_config = ConfigDict(json_schema_extra={"title": "traindoc report"})

    schema_version: int = SCHEMA_VERSION
    session_id: str | None = None
    answers: dict[str, Answer] = Field(description="question id -> the answer in force, with its source")
    inactive_answers: dict[str, Answer] = Field(
        default_factory=dict,
        description="answers kept but not used: their question is not on the current path",
    )
    pending: list[QuestionPublic] = Field(description="questions on the path still unanswered or 'unsure'")
    findings: list[Finding]
    notes: list[str] = Field(default_factory=list)
    complete: bool = Field(description="true when no question on the path is pending")
    disagreements: list[Disagreement] = Field(
        default_factory=list,
        description="answers of yours kept over a measurement that disagreed (the user wins)",
    )
    engine: str = Field(
        "", description='the rule engine that derived this report: "durable-rules 2.0.28" or "python"'
    )


# -- The line protocol (traindoc chat --jsonl) and the TUI's events -------------------------------


class AnswerMessage(BaseModel):
    type: Literal["answer"]
    question: str
    value: str
    note: str | None = None


class ChangeMessage(BaseModel):
    type: Literal["change"]
    question: str
    value: str
    note: str | None = None


class WithdrawMessage(BaseModel):
    type: Literal["withdraw"]
    question: str


class UndoMessage(BaseModel):
    type: Literal["undo"]


class ReportRequest(BaseModel):
    type: Literal["report"]


ChatMessage = Annotated[
    AnswerMessage | ChangeMessage | WithdrawMessage | UndoMessage | ReportRequest,
    Field(discriminator="type"),
]


class QuestionAsked(BaseModel):
    event: Literal["question"] = "question"
    question: QuestionPublic


class AnswerRecorded(BaseModel):
    event: Literal["answer"] = "answer"
    answer: Answer


class FindingReached(BaseModel):
    event: Literal["finding"] = "finding"
    finding: Finding


class FindingWithdrawn(BaseModel):
    event: Literal["finding_withdrawn"] = "finding_withdrawn"
    id: str
    reason: str


class ReportReady(BaseModel):
    event: Literal["report"] = "report"
    report: Report


class DiagnosisComplete(BaseModel):
    """The walk reached its end (no question pending): a script can stop reading here."""

    event: Literal["complete"] = "complete"
    report: Report


class ErrorEvent(BaseModel):
    event: Literal["error"] = "error"
    message: str
    field: str | None = None
    code: str | None = Field(None, description="the error's stable code (docs/service.md, 'Errors')")


ChatEvent = Annotated[
    QuestionAsked
    | AnswerRecorded
    | FindingReached
    | FindingWithdrawn
    | ReportReady
    | DiagnosisComplete
    | ErrorEvent,
    Field(discriminator="event"),
]
