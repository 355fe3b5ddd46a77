"""The shapes of the knowledge base: questions, findings and rules.

Plain frozen dataclasses so that `rules/` stays declarative and free of I/O. The engine adapter in
`assistant/engine.py` compiles these into durable-rules; nothing here knows about the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The one definition of the answer values (the API, the CLI, probes, the TUI and the judgements import
# these: tests/core/test_one_definition.py checks that nobody spells them out again).
AnswerValue = Literal["yes", "no", "unsure"]
ANSWER_VALUES: tuple[AnswerValue, ...] = ("yes", "no", "unsure")
# The value a question has in the engine while nobody answered it. Posting it explicitly makes
# the world closed, so rules can say "not answered yes" without the engine's negation.
UNANSWERED = "unanswered"
# Not a probe: the reader of a training history (`traindoc history`), named where a question says who
# can measure its answer.
HISTORY = "history"


# Hung-yi Lee, Machine Learning 2021 (NTU): videos and slides of the lectures cited below.
COURSE_URL = "https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    help: str
    # Who can measure the answer: probe names (run on a setup) and HISTORY (read from a training
    # history), the one to run for it first. The one question->probe map: the probes' registry and
    # the TUI read it from here.
    measured_by: tuple[str, ...] = ()
    # False for questions only a measurement answers (never put to the user as a prompt).
    asked: bool = True
    choices: tuple[str, ...] = ANSWER_VALUES
    lecture: str = ""

    @property
    def probe(self) -> str | None:
        """The one to run for this question (`traindoc probe NAME`, QuestionPublic.probe)."""
        return self.measured_by[0] if self.measured_by else None

    @property
    def from_history(self) -> bool:
        """Whether a training history's reader can answer it."""
        return HISTORY in self.measured_by


@dataclass(frozen=True)
class FindingDefinition:
    """What a finding IS (the knowledge base); a finding reached in a report is assistant.models.Finding."""

    id: str
    title: str
    explanation: str
    remedies: tuple[str, ...]
    confirmed_by: tuple[str, ...]
    kind: Literal["diagnosis", "warning", "done"] = "diagnosis"
    lecture: str = ""
    lecture_url: str = COURSE_URL


Finding = FindingDefinition  # the old name, kept for importers


@dataclass(frozen=True)
class Condition:
    """One premise of a rule: an answer has (or has not) a value, or a finding was reached."""

    kind: Literal["answer", "finding"]
    id: str
    value: str | None = None
    negate: bool = False

    def describe(self) -> str:
        if self.kind == "finding":
            return f"finding {self.id}"
        op = "is not" if self.negate else "is"
        return f"{self.id} {op} {self.value}"


class AnswerRef:
    """`answer("q") == "yes"` reads like the flowchart and builds a Condition."""

    def __init__(self, question_id: str) -> None:
        self.question_id = question_id

    # `==` builds a condition (as in SQLAlchemy), not a bool, so object's signature is overridden on purpose
    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return Condition("answer", self.question_id, str(value))

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return Condition("answer", self.question_id, str(value), negate=True)

    __hash__ = None  # type: ignore[assignment]  # unhashable, as any class defining __eq__ is


def answer(question_id: str) -> AnswerRef:
    return AnswerRef(question_id)


def finding(finding_id: str) -> Condition:
    return Condition("finding", finding_id)


@dataclass(frozen=True)
class Ask:
    """Put this question on the path (it is pending until answered)."""

    question: str


@dataclass(frozen=True)
class Conclude:
    finding: str


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    then: Ask | Conclude
    says: str  # why the conclusion follows, in words a newcomer understands
