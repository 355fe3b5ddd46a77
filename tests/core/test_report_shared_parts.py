"""The parts of a report that depend only on the path are built once and shared, safely (issue 19).

A pending question depends on the knowledge base alone and a finding without evidence on the
derivation alone, so every report shares one frozen object for each. Ground truth: the objects
built here field by field from the knowledge base (rules/), as reports built them before; the
session's own evidence must stay its own whichever session derived the shared finding first.
The byte-for-byte check on every leaf path is tests/core/test_session_replay_once.py.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from assistant.engine import FlowchartEngine
from assistant.models import Answer, AnswerInput, AnswerSource, Evidence, QuestionPublic
from assistant.session import Session, question_public
from rules import KNOWLEDGE

PATH = (("train_loss_large", "yes"), ("deeper_model_worse", "yes"), ("gradient_norm_small", "no"))


def test_every_question_is_shown_as_its_knowledge_says_and_is_shared_frozen() -> None:
    for qid, q in KNOWLEDGE.questions.items():
        expected = QuestionPublic(
            id=q.id,
            text=q.text,
            help=q.help,
            choices=list(q.choices),
            probe=q.probe,
            measured_by=list(q.measured_by),
            lecture=q.lecture,
            measured_only=not q.asked,
        )
        shown = question_public(qid)
        assert shown == expected
        assert question_public(qid) is shown
        with pytest.raises(ValidationError):
            shown.text = "changed"  # type: ignore[misc]
    s = Session()
    assert s.report().pending[0] is question_public("train_loss_large")


def measured_session(engine: FlowchartEngine) -> tuple[Session, Evidence]:
    evidence = Evidence(
        source=AnswerSource.probe, probe="curvature", summary="gradient measured", rules=["g"]
    )
    s = Session("measured", engine=engine)
    for q, v in PATH[:-1]:
        s.answer(q, v)
    s.inputs.append(
        AnswerInput(
            answer=Answer(question=PATH[-1][0], value="no", source=AnswerSource.probe, evidence=evidence)
        )
    )
    return s, evidence


def user_session(engine: FlowchartEngine) -> Session:
    s = Session("user", engine=engine)
    for q, v in PATH:
        s.answer(q, v)
    return s


@pytest.mark.parametrize("measured_first", [True, False])
def test_a_sessions_evidence_stays_its_own(measured_first: bool) -> None:
    engine = FlowchartEngine()  # one engine: both sessions get the same derivation object
    if measured_first:
        m, evidence = measured_session(engine)
        measured_report = m.report()
        user_report = user_session(engine).report()
    else:
        user_report = user_session(engine).report()
        m, evidence = measured_session(engine)
        measured_report = m.report()
    assert [f.id for f in user_report.findings] == [f.id for f in measured_report.findings]
    assert "optimization_issue" in [f.id for f in user_report.findings]
    by_id = {f.id: f for f in measured_report.findings}
    chain_used_gradient = [
        f for f in user_report.findings if any(PATH[-1][0] in r.answers for r in f.because)
    ]
    assert chain_used_gradient  # the findings below the gradient question carry its evidence
    for f in user_report.findings:
        assert f.evidence == []
        mine = by_id[f.id]
        assert mine.evidence == ([evidence] if f in chain_used_gradient else [])
        assert mine.because == f.because
    # a third report of the user's answers still has none, and reports are not changed in place
    again = user_session(engine).report()
    assert all(f.evidence == [] for f in again.findings)
    with pytest.raises(ValidationError):
        again.findings[0].title = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        again.findings[0].because[0].rule = "changed"  # type: ignore[misc]


def test_answers_are_listed_in_each_sessions_own_order() -> None:
    """The settled path is kept per answer set, shared by sessions that reached the same answers in
    another order: each report still lists its answers in the order of its own inputs."""
    engine = FlowchartEngine()
    measured = Answer(question="gradient_norm_small", value="no", source=AnswerSource.probe)
    first = Session("first", engine=engine)
    first.inputs.append(AnswerInput(answer=measured))
    last = Session("last", engine=engine)
    for s in (first, last):
        s.answer("train_loss_large", "yes")
        s.answer("deeper_model_worse", "yes")
    last.inputs.append(AnswerInput(answer=measured))
    expected = {
        "first": ["gradient_norm_small", "train_loss_large", "deeper_model_worse"],
        "last": ["train_loss_large", "deeper_model_worse", "gradient_norm_small"],
    }
    for s in (first, last, first, last):
        assert list(s.report().answers) == expected[s.id or ""]
        assert list(json.loads(s.report().model_dump_json())["answers"]) == expected[s.id or ""]
