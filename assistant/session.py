"""A diagnosis session: its inputs are its only state; questions and findings are derived by replay.

Changing or withdrawing an answer is a new input; the next derivation starts from scratch, so no
conclusion that depended on the old answer can survive (the engine has no truth maintenance).

The replay is computed once per change of the inputs, not once per reader (an answer in the service
used to settle the path twice: once to check the answer is on it, once for the report), and what a
finding's explanation takes from the derivation alone is computed once per derivation (issue 19).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeGuard

from assistant.engine import Derivation, FlowchartEngine, default_engine
from assistant.errors import InputError, OffPathAnswer
from assistant.models import (
    Answer,
    AnswerInput,
    AnswerSource,
    Disagreement,
    Evidence,
    Finding,
    QuestionPublic,
    Reason,
    Report,
    SessionInput,
    WithdrawInput,
)
from rules import ANSWER_VALUES, KNOWLEDGE, AnswerValue


def question_public(qid: str) -> QuestionPublic:
    """The question as reports show it: built once per question (it depends on the knowledge base
    alone) and shared by every report; frozen, so no holder can change it for the others."""
    q = _QUESTIONS.get(qid)
    if q is None:
        q = _QUESTIONS[qid] = _question_public(qid)
    return q


_QUESTIONS: dict[str, QuestionPublic] = {}


def _question_public(qid: str) -> QuestionPublic:
    q = KNOWLEDGE.questions[qid]
    return QuestionPublic(
        id=q.id,
        text=q.text,
        help=q.help,
        choices=list(q.choices),
        probe=q.probe,
        measured_by=list(q.measured_by),
        lecture=q.lecture,
        measured_only=not q.asked,
    )


def _is_answer_value(value: object) -> TypeGuard[AnswerValue]:
    return isinstance(value, str) and value in ANSWER_VALUES


def validate_answer(question: str, value: object) -> AnswerValue:
    """Check one (question, value) pair; the message names the problem and the allowed values."""
    if question not in KNOWLEDGE.questions:
        known = ", ".join(KNOWLEDGE.questions)
        raise InputError(f"unknown question id {question!r} (known: {known})", field=question)
    if not _is_answer_value(value):
        raise InputError(
            f"answer to {question} must be one of yes, no, unsure (got {value!r})", field=question
        )
    return value


def _off_path_message(qid: str) -> str:
    rules = [r for r in KNOWLEDGE.rules if getattr(r.then, "question", None) == qid]
    when = "; or ".join(" and ".join(c.describe() for c in r.when) or "always" for r in rules)
    return f"{qid} is not asked on the current path (it is asked when {when})"


class Evaluates(Protocol):
    def evaluate(self, answers: Mapping[str, str]) -> Derivation: ...


def settle(engine: Evaluates, answers: Mapping[str, str]) -> tuple[dict[str, str], Derivation]:
    """The answers that are on the path, and the derivation from them.

    Grows the path from the start: an answer counts only once a rule, fed by answers that already
    count, has asked its question. So no answer can put itself on the path (answers to the curvature
    questions must not conclude the optimization issue that is the only reason to ask them); an
    answer off the path is kept, inactive, and comes back when the path reaches its question.
    Measured-only questions count from the start: a measurement is a fact wherever it was taken.
    The ask rules test measured-only answers only negatively, so the path only grows and this ends
    (one derivation per step of the path; the engine's memo makes the repeated ones lookups).
    """
    active = {q: v for q, v in answers.items() if q in _MEASURED_ONLY}
    for _ in range(len(KNOWLEDGE.questions) + 2):
        derivation = engine.evaluate(active)
        on_path = set(derivation.asked) | _MEASURED_ONLY
        next_active = {q: v for q, v in answers.items() if q in on_path}
        if next_active == active:
            break
        active = next_active
    return active, derivation


_MEASURED_ONLY = frozenset(q for q, spec in KNOWLEDGE.questions.items() if not spec.asked)

# The settled path per engine and answers: `settle` is a pure function of them (the engine's
# derivations are), and few distinct answer sets exist (a handful of questions, four values each),
# so each is settled once per process rather than once per change of every session. Keyed by the
# engine's identity, the entry holding the engine (its id is not reused while the entry lives).
# What is kept is the set of questions on the path, not settle's dict: its order is the order of
# one session's inputs, and a report lists the answers in its own session's order.
# Bounded: cleared when full.
_SETTLED: dict[tuple[int, tuple[str | None, ...]], tuple[Evaluates, frozenset[str], Derivation]] = {}
_SETTLED_MAX = 8192
_QIDS = tuple(KNOWLEDGE.questions)


def _settle_kept(engine: Evaluates, answers: dict[str, str]) -> tuple[frozenset[str], Derivation]:
    """`settle`'s questions on the path (as a set) and derivation, settled once per answer set."""
    # an answer to an id outside the knowledge base is never on the path, so the key leaves it out
    key = (id(engine), tuple(map(answers.get, _QIDS)))
    hit = _SETTLED.get(key)
    if hit is not None and hit[0] is engine:
        return hit[1], hit[2]
    values, derivation = settle(engine, answers)
    on_path = frozenset(values)
    if len(_SETTLED) >= _SETTLED_MAX:
        _SETTLED.clear()
    _SETTLED[key] = (engine, on_path, derivation)
    return on_path, derivation


@dataclass
class _Replay:
    """Everything derived from one list of inputs, kept while the list holds the same objects.

    `state` (the settled path: engine evaluations) is computed when first read, so reading the
    answers in force before a change does not settle a path nobody reports.
    """

    inputs: tuple[SessionInput, ...]
    engine: FlowchartEngine
    history: dict[str, list[Answer]]
    current: dict[str, Answer]
    measured: bool  # whether any answer in `history` was measured (else no disagreement can exist)
    state: State | None = None


@dataclass
class State:
    """The derived view of a session at one moment."""

    answers: dict[str, Answer]
    inactive: dict[str, Answer]
    pending: list[str]
    findings: list[str]
    derivation: Derivation


class Session:
    """Holds a session's inputs and derives everything else from them."""

    def __init__(
        self,
        session_id: str | None = None,
        inputs: Iterable[SessionInput] = (),
        engine: FlowchartEngine | None = None,
    ) -> None:
        self.id = session_id
        self.inputs: list[SessionInput] = list(inputs)
        self.engine = engine or default_engine()
        self.notes: list[str] = []
        self._replay: _Replay | None = None

    def adopt(self, other: Session) -> None:
        """Start from `other`'s replay (the service's session before a change: the same inputs).

        Safe whatever `other` is: a kept replay is used only while it is of this session's inputs
        and engine (checked on every read), and a replay is never changed once made (its settled
        state is filled in once, the same for every reader), so sessions can share one.
        """
        self._replay = other._replay

    # -- reading --------------------------------------------------------------------------------

    def _replayed(self) -> _Replay:
        """The replay of the inputs as they are now, computed again only when they changed.

        Changed means: another list, or another object at any position (append, pop, undo, a
        withdrawal, an assignment to `inputs` all change it; the kept tuple holds the old objects,
        so an id cannot be reused while it is compared). Inputs are never edited in place here; an
        answer is replaced by appending a new one.
        """
        replay, inputs = self._replay, self.inputs
        if (
            replay is not None
            and replay.engine is self.engine
            and len(replay.inputs) == len(inputs)
            and all(map(operator.is_, replay.inputs, inputs))
        ):
            return replay
        history = _answer_history(inputs)
        current, measured = _current_answers(history)
        self._replay = _Replay(tuple(inputs), self.engine, history, current, measured)
        return self._replay

    def _settled(self) -> State:
        replay = self._replayed()
        if replay.state is None:
            current = replay.current
            on_path, derivation = _settle_kept(self.engine, {q: a.value for q, a in current.items()})
            active = {q: a for q, a in current.items() if q in on_path}  # in the order of the inputs
            pending = [q for q in derivation.asked if q not in active or active[q].value == "unsure"]
            inactive = {q: a for q, a in current.items() if q not in active}
            replay.state = State(active, inactive, pending, derivation.findings, derivation)
        return replay.state

    def _answer_history(self) -> dict[str, list[Answer]]:
        """Every answer per question since that question was last withdrawn, oldest first."""
        return {q: list(h) for q, h in self._replayed().history.items()}

    def current_answers(self) -> dict[str, Answer]:
        """The answer in force per question, withdrawals applied: the latest one, except that the
        user's own yes/no wins over any measurement, whichever came first (the measurement is kept
        and reported as a disagreement)."""
        return dict(self._replayed().current)

    def disagreements(self) -> list[Disagreement]:
        """The user's answers in force over a measurement that answered differently (yes vs no)."""
        replay = self._replayed()
        if not replay.measured:  # nothing measured: nothing to disagree with (most sessions)
            return []
        current = replay.current
        out: list[Disagreement] = []
        for question, history in replay.history.items():
            kept = current[question]
            if kept.source != _USER:
                continue
            differing = [a for a in history if _measured(a) and a.value != "unsure" and a.value != kept.value]
            if differing:
                m = differing[-1]
                out.append(
                    Disagreement(
                        question=question,
                        value=kept.value,
                        measured=m.value,
                        source=m.source,
                        probe=m.evidence.probe if m.evidence else None,
                        summary=m.evidence.summary if m.evidence else "",
                        evidence=m.evidence,
                    )
                )
        return out

    def state(self) -> State:
        """The derived view now (fresh containers: a caller may change them without harm)."""
        st = self._settled()
        return State(dict(st.answers), dict(st.inactive), list(st.pending), list(st.findings), st.derivation)

    def report(self) -> Report:
        st = self._settled()  # read only here: Report copies what it keeps
        findings = [self._finding(fid, st) for fid in st.findings]
        return Report(
            session_id=self.id,
            answers=st.answers,
            inactive_answers=st.inactive,
            pending=[question_public(q) for q in st.pending],
            findings=findings,
            notes=list(self.notes),
            complete=not st.pending,
            disagreements=self.disagreements(),
            engine=self.engine.name,
        )

    def _finding(self, fid: str, st: State) -> Finding:
        # the finding as the derivation alone makes it (built once per derivation), plus the
        # evidence of the answers its chain used, which is this session's
        finding, used = _explained(st.derivation, fid)
        evidence: list[Evidence] = []
        for q in used:
            ev = st.answers[q].evidence if q in st.answers else None
            if ev is not None and ev not in evidence:
                evidence.append(ev)
        return finding.model_copy(update={"evidence": evidence}) if evidence else finding

    # -- changing -------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        value: str,
        *,
        source: AnswerSource = AnswerSource.user,
        evidence: Evidence | None = None,
        note: str | None = None,
        replace: bool = False,
        strict: bool = True,
    ) -> Answer:
        """Record an answer. A different value for an answered question needs `replace=True`.

        With `strict`, an answer to a question not on the current path is refused and nothing is
        recorded (the session is left exactly as it was).
        """
        checked = validate_answer(question, value)
        existing = self._replayed().current.get(question)  # read only: no copy needed
        if existing is not None and existing.value != value and not replace and existing.value != "unsure":
            raise InputError(
                f"{question} is already answered {existing.value!r}; send a change to answer {value!r}",
                field=question,
            )
        new = Answer(question=question, value=checked, source=source, evidence=evidence, note=note)
        self.inputs.append(AnswerInput(answer=new))
        if strict and question not in self._settled().answers:  # read only: no copies needed
            self.inputs.pop()
            raise OffPathAnswer(_off_path_message(question), field=question)
        return new

    def withdraw(self, question: str) -> None:
        if question not in self.current_answers():
            raise InputError(f"{question} has no answer to withdraw", field=question)
        self.inputs.append(WithdrawInput(question=question))

    def undo(self) -> SessionInput:
        if not self.inputs:
            raise InputError("nothing to undo")
        return self.inputs.pop()

    def load_answers(
        self, answers: Mapping[str, object], *, source: AnswerSource = AnswerSource.user
    ) -> None:
        """Apply a whole answers file at once; off-path answers are checked on the final state."""
        checked = {qid: validate_answer(qid, value) for qid, value in answers.items()}  # all, before any
        for qid, value in checked.items():
            self.inputs.append(AnswerInput(answer=Answer(question=qid, value=value, source=source)))
        off = [q for q in answers if q in self.state().inactive]
        if off:
            for _ in answers:
                self.inputs.pop()
            raise OffPathAnswer("; ".join(_off_path_message(q) for q in off), field=off[0])


_USER = AnswerSource.user  # looked up once: an enum member's class attribute is a descriptor call in 3.11


def _measured(answer: Answer) -> bool:
    return answer.source != _USER


def _answer_history(inputs: Iterable[SessionInput]) -> dict[str, list[Answer]]:
    out: dict[str, list[Answer]] = {}
    for item in inputs:
        if isinstance(item, AnswerInput):
            out.setdefault(item.answer.question, []).append(item.answer)
        else:
            out.pop(item.question, None)
    return out


def _current_answers(history: Mapping[str, list[Answer]]) -> tuple[dict[str, Answer], bool]:
    """The answer in force per question, and whether any answer was measured."""
    out: dict[str, Answer] = {}
    measured = False
    for question, answers in history.items():
        last = answers[-1]
        if len(answers) == 1 and last.source == _USER:  # one answer, the user's: in force (most)
            out[question] = last
            continue
        mine = [a for a in answers if not _measured(a)]
        measured = measured or len(mine) < len(answers)
        out[question] = mine[-1] if mine and mine[-1].value != "unsure" else last
    return out, measured


# What a rule says, by name (the first rule of that name, as a search from the start finds it).
_SAYS: dict[str, str] = {}
for _rule in KNOWLEDGE.rules:
    _SAYS.setdefault(_rule.name, _rule.says)
del _rule

# A finding as its derivation makes it (without evidence) and the questions its chain used, per
# derivation: a derivation is immutable and the engine hands out the same object for the same
# answers, so this is keyed by identity; the entry holds the derivation, so its id is not reused
# while the entry lives. Bounded: cleared when full (a few hundred distinct derivations exist per
# knowledge base). The Finding is frozen and shared by every report of that derivation.
_EXPLAINED: dict[tuple[int, str], tuple[Derivation, Finding, tuple[str, ...]]] = {}
_EXPLAINED_MAX = 8192


def _explained(derivation: Derivation, fid: str) -> tuple[Finding, tuple[str, ...]]:
    """The finding `fid` with the firings that led to it, and the questions they used in order."""
    key = (id(derivation), fid)
    hit = _EXPLAINED.get(key)
    if hit is not None and hit[0] is derivation:
        return hit[1], hit[2]
    chain = derivation.chain(fid)
    used = tuple(dict.fromkeys(q for d in chain for q in d.answers))  # ordered: evidence follows the chain
    spec = KNOWLEDGE.findings[fid]
    finding = Finding(
        id=spec.id,
        title=spec.title,
        kind=spec.kind,
        explanation=spec.explanation,
        remedies=list(spec.remedies),
        because=[
            Reason(rule=d.rule, says=_SAYS.get(d.rule, ""), answers=d.answers, findings=list(d.findings))
            for d in chain
        ],
        confirmed_by=list(spec.confirmed_by),
        evidence=[],
        lecture=spec.lecture,
        lecture_url=spec.lecture_url,
    )
    if len(_EXPLAINED) >= _EXPLAINED_MAX:
        _EXPLAINED.clear()
    _EXPLAINED[key] = (derivation, finding, used)
    return finding, used
