"""A user's answer that overrides a measurement: the user wins, and the report says how they differ.

The measurement is the real history reader on a real log (tests/data/real_histories, provenance in
its PROVENANCE.md): Nicolassalvan/mti881-projet2 ResultsEtape3, an HF Trainer run whose training loss
falls far below its start while the validation loss does not (the reader answers train_loss_large =
no, val_loss_large = yes, and there is no test curve).
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.evidence import apply_outcome
from assistant.models import AnswerSource
from assistant.session import Session
from probes.history import history_outcome
from tests.conftest import REAL_HISTORIES, run_cli

RUN = next(REAL_HISTORIES.glob("hf_trainer_state/*ResultsEtape3*"))


def measured() -> Session:
    s = Session()
    apply_outcome(s, history_outcome(str(RUN)), AnswerSource.history)
    return s


def test_history_alone_has_no_disagreement_and_finds_overfitting() -> None:
    report = measured().report()
    assert report.answers["train_loss_large"].value == "no"
    assert report.disagreements == []
    assert [f.id for f in report.findings] == ["overfitting"]


def test_user_answer_after_the_measurement_wins_and_is_reported() -> None:
    s = measured()
    s.answer("train_loss_large", "yes", replace=True)
    report = s.report()
    assert report.answers["train_loss_large"].value == "yes"
    assert report.answers["train_loss_large"].source == "user"
    (d,) = report.disagreements
    assert (d.question, d.value, d.measured, d.source, d.probe) == (
        "train_loss_large",
        "yes",
        "no",
        "history",
        "history",
    )
    assert d.summary and d.evidence is not None and d.evidence.rules
    assert [q.id for q in report.pending] == ["deeper_model_worse"]  # the user's branch


def test_user_answer_before_the_measurement_wins_and_is_reported() -> None:
    s = Session()
    s.answer("train_loss_large", "yes")
    apply_outcome(s, history_outcome(str(RUN)), AnswerSource.history)
    report = s.report()
    assert report.answers["train_loss_large"].source == "user"
    assert [(d.question, d.value, d.measured) for d in report.disagreements] == [
        ("train_loss_large", "yes", "no")
    ]
    assert any("your answer 'yes' was kept" in n for n in report.notes)


def test_agreeing_unsure_and_withdrawn_answers_are_no_disagreement() -> None:
    s = measured()
    s.answer("train_loss_large", "no", replace=True)  # agrees with the measurement
    assert s.report().disagreements == []
    s.answer("train_loss_large", "unsure", replace=True)  # not sure: the measurement stands
    s.answer("train_loss_large", "yes", replace=True)
    assert len(s.report().disagreements) == 1
    s.withdraw("train_loss_large")  # withdrawn: neither the answer nor the old measurement is left
    report = s.report()
    assert report.disagreements == [] and "train_loss_large" not in report.answers


def test_measurement_wins_over_the_users_unsure() -> None:
    s = Session()
    s.answer("train_loss_large", "unsure")
    apply_outcome(s, history_outcome(str(RUN)), AnswerSource.history)
    report = s.report()
    assert report.answers["train_loss_large"].value == "no"
    assert report.answers["train_loss_large"].source == "history"
    assert report.disagreements == []


def test_cli_reports_the_disagreement(tmp_path: Path) -> None:
    f = tmp_path / "answers.json"
    f.write_text(json.dumps({"train_loss_large": "yes"}))
    run = run_cli("diagnose", "--history", str(RUN), "--answers", str(f), "--json")
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["answers"]["train_loss_large"]["value"] == "yes"
    (d,) = report["disagreements"]
    assert d["question"] == "train_loss_large" and d["measured"] == "no" and d["source"] == "history"
    assert d["summary"] and d["evidence"]["probe"] == "history"
