"""The session computes its replay once per change, and its reports are byte for byte what they were.

Ground truth: `reference_report` below is the report as `Session.state()` / `report()` computed it
before the replay was kept (copied from assistant/session.py at s4b, 1311a33): every call replays the
inputs from scratch and walks each finding's chain again, with a separate engine instance (the pure
Python evaluator, so no derivation object or cache is shared with the session under test). The
finite space is walked whole: every leaf path of the flowchart (each step answers the first pending
question yes or no; measured-only questions answered by a probe with its evidence, yes/no/unsure/not
at all), and on every path every answer is then changed, made unsure, withdrawn and undone, so each
kind of change that must invalidate the kept replay happens on every path. The two reports' JSON
must be identical after every step; the walk of tests/core/flowchart_walk.py checks the findings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from assistant.engine import FlowchartEngine
from assistant.models import (
    Answer,
    AnswerInput,
    AnswerSource,
    Disagreement,
    Evidence,
    Finding,
    Reason,
    Report,
    SessionInput,
)
from assistant.session import Session, question_public, settle
from rules import KNOWLEDGE
from tests.core.flowchart_walk import walk

MEASURED_ONLY = [q for q, spec in KNOWLEDGE.questions.items() if not spec.asked]
REFERENCE_ENGINE = FlowchartEngine(engine="python", cache_size=0)


def reference_report(session: Session) -> Report:
    """The report from the session's inputs, replayed from scratch (the code before the change)."""
    history: dict[str, list[Answer]] = {}
    for item in session.inputs:
        if isinstance(item, AnswerInput):
            history.setdefault(item.answer.question, []).append(item.answer)
        else:
            history.pop(item.question, None)
    current: dict[str, Answer] = {}
    for question, answers in history.items():
        mine = [a for a in answers if a.source == AnswerSource.user]
        current[question] = mine[-1] if mine and mine[-1].value != "unsure" else answers[-1]
    values, derivation = settle(REFERENCE_ENGINE, {q: a.value for q, a in current.items()})
    active = {q: current[q] for q in values}
    pending = [q for q in derivation.asked if q not in active or active[q].value == "unsure"]
    inactive = {q: a for q, a in current.items() if q not in active}
    says = {r.name: r.says for r in reversed(KNOWLEDGE.rules)}
    findings = []
    for fid in derivation.findings:
        spec = KNOWLEDGE.findings[fid]
        chain = derivation.chain(fid)
        used = dict.fromkeys(q for d in chain for q in d.answers)
        evidence: list[Evidence] = []
        for q in used:
            ev = active[q].evidence if q in active else None
            if ev is not None and ev not in evidence:
                evidence.append(ev)
        findings.append(
            Finding(
                id=spec.id,
                title=spec.title,
                kind=spec.kind,
                explanation=spec.explanation,
                remedies=list(spec.remedies),
                because=[
                    Reason(
                        rule=d.rule, says=says.get(d.rule, ""), answers=d.answers, findings=list(d.findings)
                    )
                    for d in chain
                ],
                confirmed_by=list(spec.confirmed_by),
                evidence=evidence,
                lecture=spec.lecture,
                lecture_url=spec.lecture_url,
            )
        )
    disagreements = []
    for question, answers in history.items():
        kept = current[question]
        if kept.source != AnswerSource.user:
            continue
        differing = [
            a
            for a in answers
            if a.source != AnswerSource.user and a.value != "unsure" and a.value != kept.value
        ]
        if differing:
            m = differing[-1]
            disagreements.append(
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
    return Report(
        session_id=session.id,
        answers=active,
        inactive_answers=inactive,
        pending=[question_public(q) for q in pending],
        findings=findings,
        notes=list(session.notes),
        complete=not pending,
        disagreements=disagreements,
        engine=session.engine.name,
    )


def measured(question: str, value: str) -> Answer:
    evidence = Evidence(
        source=AnswerSource.probe, probe="curvature", summary=f"{question} measured {value}", rules=[question]
    )
    return Answer(question=question, value=value, source=AnswerSource.probe, evidence=evidence)  # type: ignore[arg-type]


def leaf_paths(engine: FlowchartEngine, inputs: list[SessionInput]) -> Iterator[list[tuple[str, str]]]:
    """Every sequence of yes/no answers to the first pending question, down to a leaf."""
    state = Session(inputs=inputs, engine=engine).state()
    if not state.pending:
        yield []
        return
    q = state.pending[0]
    for value in ("yes", "no"):
        step = AnswerInput(answer=Answer(question=q, value=value))
        for rest in leaf_paths(engine, [*inputs, step]):
            yield [(q, value), *rest]


def same(session: Session, what: str) -> None:
    got = session.report().model_dump_json()
    assert got == reference_report(session).model_dump_json(), what
    state = session.state()
    answers = {q: a.value for q, a in state.answers.items()}
    if not any(v == "unsure" for v in answers.values()):
        found, pending, _ = walk({**answers, **{q: a.value for q, a in state.inactive.items()}})
        assert set(state.findings) == found, what
        assert state.pending == pending, what


MEASURES = list(itertools.product(MEASURED_ONLY[:2], ("yes", "no", "unsure")))


@pytest.mark.parametrize(
    "measure", [None, *MEASURES], ids=lambda m: "none" if m is None else f"{m[0]}={m[1]}"
)
def test_every_leaf_path_and_every_change_reports_as_before(measure: tuple[str, str] | None) -> None:
    engine = FlowchartEngine()
    start: list[SessionInput] = [AnswerInput(answer=measured(*measure))] if measure else []
    paths = list(leaf_paths(engine, start))
    assert len(paths) >= 5  # model bias or an optimization leaf, overfitting, mismatch, a good model
    for path in paths:
        s = Session("s1", start, engine=engine)
        same(s, f"{measure} start")
        for q, value in path:
            s.answer(q, value)
            same(s, f"{measure} {path} after {q}={value}")
        assert s.report().complete
        for q, value in reversed(path):
            other = "no" if value == "yes" else "yes"
            s.answer(q, other, replace=True, strict=False)
            same(s, f"{measure} {path} changed {q}")
            s.answer(q, "unsure", replace=True, strict=False)
            same(s, f"{measure} {path} unsure {q}")
            s.undo()
            same(s, f"{measure} {path} undo unsure {q}")
            s.withdraw(q)
            same(s, f"{measure} {path} withdrew {q}")
            s.undo()
            s.undo()
            same(s, f"{measure} {path} back {q}")
            last = s.undo()  # then as many inputs as before, the last one another: must not look unchanged
            s.answer(q, other, replace=True, strict=False)
            same(s, f"{measure} {path} swapped {q}")
            s.undo()
            s.inputs.append(last)
            same(s, f"{measure} {path} swapped back {q}")
        s.notes.append("a note")  # not an input: the report reads the notes every time
        same(s, f"{measure} {path} note")


def test_measured_answers_under_users_are_reported_as_before() -> None:
    """Every measured-only question measured, then overridden by the user: evidence and disagreements."""
    engine = FlowchartEngine()
    for q, (mv, uv) in itertools.product(MEASURED_ONLY, itertools.permutations(("yes", "no"), 2)):
        s = Session("s2", engine=engine)
        s.inputs.append(AnswerInput(answer=measured(q, mv)))
        same(s, f"{q} measured {mv}")
        for step, value in (("train_loss_large", "yes"), ("deeper_model_worse", "yes")):
            s.answer(step, value, strict=False)
            same(s, f"{q} then {step}")
        s.answer(q, uv, replace=True, strict=False)
        same(s, f"{q} user {uv}")
        assert s.report().disagreements or q not in s.report().answers
        s.inputs = list(s.inputs[:-1])  # a new list with the same inputs but the last
        same(s, f"{q} new list")


def test_a_caller_changing_the_state_it_got_changes_nothing_kept() -> None:
    s = Session()
    s.answer("train_loss_large", "yes")
    before = s.report().model_dump_json()
    st = s.state()
    st.answers.clear()
    st.pending.append("val_loss_large")
    st.findings.append("overfitting")
    s.current_answers().clear()
    report = s.report()
    report.answers.clear()
    report.pending.clear()
    report.findings.clear()
    assert s.report().model_dump_json() == before
