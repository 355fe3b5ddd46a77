"""Every leaf of the flowchart, reached from answers; re-answers move to the right leaf with nothing stale.

The expected findings are read off the lecture's flowchart (Hung-yi Lee, ML 2021, "General Guidance";
../shared/knowledge/flowchart.md), plus three edges the lecture implies and issue 10 spells out:
- a validation split is held-out data from the training distribution, so training small + validation
  large is overfitting whether or not a test set exists (the test set only tells mismatch), and
  training small + validation fine + no test set is "healthy as far as held-out data shows";
- a critical point with a clearly negative Hessian eigenvalue (the lecture's saddle) shows that a
  lower loss is reachable with the same model: an optimization issue even when depth cannot decide;
- gradient descent is unstable along a direction with curvature above 2/eta (the classical check the
  lecture's "training stuck is not small gradient" leads to): a learning rate above 2/lambda_max
  leaves the loss large because of the step, not the function set, so it is an optimization issue,
  never model bias; it is measured whenever the loss diverged or bounced with a large gradient.
"""

from __future__ import annotations

import pytest

from assistant.session import Session
from rules import KNOWLEDGE

# (answers, findings expected, questions expected pending) — written from flowchart.md, not from output
LEAVES = [
    ({"train_loss_large": "yes", "deeper_model_worse": "no"}, {"model_bias"}, set()),
    (
        {
            "train_loss_large": "yes",
            "deeper_model_worse": "yes",
            "gradient_norm_small": "no",
            "learning_rate_exceeds_stability": "no",
        },
        {"optimization_issue", "not_at_critical_point"},
        set(),
    ),
    (
        {
            "train_loss_large": "yes",
            "deeper_model_worse": "yes",
            "gradient_norm_small": "yes",
            "hessian_negative_eigenvalue": "yes",
        },
        {"optimization_issue", "saddle_point"},
        set(),
    ),
    (
        {
            "train_loss_large": "yes",
            "deeper_model_worse": "yes",
            "gradient_norm_small": "yes",
            "hessian_negative_eigenvalue": "no",
        },
        {"optimization_issue", "local_minimum"},
        set(),
    ),
    ({"train_loss_large": "no", "test_loss_large": "no"}, {"healthy"}, set()),
    ({"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "yes"}, {"overfitting"}, set()),
    ({"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "no"}, {"mismatch"}, set()),
    # partial paths: the next question is pending
    ({}, set(), {"train_loss_large"}),
    ({"train_loss_large": "yes"}, set(), {"deeper_model_worse"}),
    (
        {"train_loss_large": "yes", "deeper_model_worse": "yes"},
        {"optimization_issue"},
        {"gradient_norm_small"},
    ),
    ({"train_loss_large": "no"}, set(), {"test_loss_large"}),
    ({"train_loss_large": "no", "test_loss_large": "yes"}, set(), {"val_loss_large"}),
    # "unsure" keeps the question pending
    ({"train_loss_large": "unsure"}, set(), {"train_loss_large"}),
    (
        {"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "unsure"},
        set(),
        {"val_loss_large"},
    ),
    # measured-only questions
    (
        {"train_loss_large": "yes", "deeper_model_worse": "no", "simple_model_better": "yes"},
        {"optimization_issue"},
        {"gradient_norm_small"},
    ),
    # issue 10: an unstable step is an optimization issue, never model bias (was: model_bias)
    (
        {"train_loss_large": "yes", "deeper_model_worse": "no", "learning_rate_exceeds_stability": "yes"},
        {"optimization_issue", "learning_rate_too_high"},
        {"gradient_norm_small"},
    ),
    # issue 10: divergence puts the stability check on the path (was: only deeper_model_worse pending)
    (
        {"loss_diverged": "yes", "train_loss_large": "yes"},
        {"diverged"},
        {"deeper_model_worse", "learning_rate_exceeds_stability"},
    ),
    (
        {"loss_diverged": "yes", "train_loss_large": "yes", "learning_rate_exceeds_stability": "yes"},
        {"diverged", "learning_rate_too_high", "optimization_issue"},
        {"deeper_model_worse", "gradient_norm_small"},
    ),
    # stuck with a large gradient: the stability check is next (issue 10)
    (
        {"train_loss_large": "yes", "deeper_model_worse": "yes", "gradient_norm_small": "no"},
        {"optimization_issue", "not_at_critical_point"},
        {"learning_rate_exceeds_stability"},
    ),
    # two rules conclude the same finding (crashed durable before issue 10)
    (
        {"train_loss_large": "yes", "deeper_model_worse": "yes", "simple_model_better": "yes"},
        {"optimization_issue"},
        {"gradient_norm_small"},
    ),
    # depth cannot decide: the curvature where training stopped can (issue 10)
    (
        {"train_loss_large": "yes", "deeper_model_worse": "unsure"},
        set(),
        {"deeper_model_worse", "gradient_norm_small"},
    ),
    (
        {
            "train_loss_large": "yes",
            "deeper_model_worse": "unsure",
            "gradient_norm_small": "yes",
            "hessian_negative_eigenvalue": "yes",
        },
        {"optimization_issue", "saddle_point"},
        {"deeper_model_worse"},
    ),
    (  # a local-minimum-like point tells neither model bias nor optimization: nothing concluded
        {
            "train_loss_large": "yes",
            "deeper_model_worse": "unsure",
            "gradient_norm_small": "yes",
            "hessian_negative_eigenvalue": "no",
        },
        set(),
        {"deeper_model_worse"},
    ),
    (
        {"train_loss_large": "yes", "deeper_model_worse": "unsure", "gradient_norm_small": "no"},
        set(),
        {"deeper_model_worse"},
    ),
    # held-out data without a test set (issue 10)
    ({"train_loss_large": "no", "test_set_available": "no"}, set(), {"val_loss_large"}),
    (
        {"train_loss_large": "no", "test_set_available": "no", "val_loss_large": "yes"},
        {"overfitting"},
        set(),
    ),
    (
        {"train_loss_large": "no", "test_set_available": "no", "val_loss_large": "no"},
        {"healthy_without_test"},
        set(),
    ),
    (  # the test loss cannot be judged, the validation split still shows overfitting
        {"train_loss_large": "no", "test_loss_large": "unsure", "val_loss_large": "yes"},
        {"overfitting"},
        {"test_loss_large"},
    ),
    (  # ... but a fine validation split cannot tell healthy from mismatch
        {"train_loss_large": "no", "test_loss_large": "unsure", "val_loss_large": "no"},
        set(),
        {"test_loss_large"},
    ),
    (
        {"train_loss_large": "no", "test_set_available": "yes", "test_loss_large": "no"},
        {"healthy"},
        set(),
    ),
]


@pytest.mark.parametrize(("answers", "findings", "pending"), LEAVES)
def test_answers_reach_leaf(answers: dict[str, str], findings: set[str], pending: set[str]) -> None:
    s = Session()
    s.load_answers(answers)
    report = s.report()
    assert {f.id for f in report.findings} == findings
    assert {q.id for q in report.pending} == pending
    assert report.complete == (not pending)


def test_every_finding_and_question_is_reachable() -> None:
    reached = set().union(*(f for _, f, _ in LEAVES))
    asked = set().union(*(set(a) for a, _, _ in LEAVES))
    assert reached == set(KNOWLEDGE.findings)
    assert asked == set(KNOWLEDGE.questions)


def test_pending_question_names_its_probe() -> None:
    s = Session()
    s.load_answers({"train_loss_large": "yes", "deeper_model_worse": "unsure"})
    # issue 10: depth undecided, the walk goes on to the curvature (was: deeper_model_worse alone)
    q, after = s.report().pending
    assert q.id == "deeper_model_worse" and q.probe == "depth" and not q.measured_only
    assert q.choices == ["yes", "no", "unsure"] and q.text and q.help
    assert after.id == "gradient_norm_small" and after.probe == "curvature"


def test_measured_only_question_says_so() -> None:
    s = Session()
    s.load_answers({"train_loss_large": "yes", "loss_diverged": "yes"})
    by_id = {q.id: q for q in s.report().pending}
    assert by_id["learning_rate_exceeds_stability"].measured_only
    assert not by_id["deeper_model_worse"].measured_only


CHANGES = [
    # (start, change, findings after, stale findings that must be gone)
    (
        LEAVES[2][0],
        ("hessian_negative_eigenvalue", "no"),
        {"optimization_issue", "local_minimum"},
        {"saddle_point"},
    ),
    (LEAVES[2][0], ("train_loss_large", "no"), set(), {"optimization_issue", "saddle_point"}),
    (LEAVES[0][0], ("deeper_model_worse", "yes"), {"optimization_issue"}, {"model_bias"}),
    (LEAVES[5][0], ("val_loss_large", "no"), {"mismatch"}, {"overfitting"}),
    (LEAVES[5][0], ("train_loss_large", "yes"), set(), {"overfitting"}),
    (LEAVES[4][0], ("test_loss_large", "yes"), set(), {"healthy"}),
]


@pytest.mark.parametrize(("start", "change", "after", "stale"), CHANGES)
def test_changing_an_answer_moves_to_new_leaf(start, change, after, stale) -> None:
    s = Session()
    s.load_answers(start)
    s.answer(*change, replace=True)
    got = {f.id for f in s.report().findings}
    assert got == after
    assert not (got & stale)


def test_answers_off_the_new_path_are_kept_inactive_and_come_back() -> None:
    s = Session()
    s.load_answers(LEAVES[2][0])
    s.answer("train_loss_large", "no", replace=True)
    r = s.report()
    assert set(r.inactive_answers) == {
        "deeper_model_worse",
        "gradient_norm_small",
        "hessian_negative_eigenvalue",
    }
    assert [q.id for q in r.pending] == ["test_loss_large"]
    s.answer("train_loss_large", "yes", replace=True)  # back to the old branch: nothing was lost
    assert {f.id for f in s.report().findings} == {"optimization_issue", "saddle_point"}


def test_withdraw_and_undo_drop_dependent_conclusions() -> None:
    s = Session()
    s.load_answers(LEAVES[6][0])
    s.withdraw("val_loss_large")
    r = s.report()
    assert r.findings == [] and [q.id for q in r.pending] == ["val_loss_large"]
    s.undo()
    assert [f.id for f in s.report().findings] == ["mismatch"]


def test_because_chain_explains_from_first_question() -> None:
    s = Session()
    s.load_answers(LEAVES[2][0])
    saddle = next(f for f in s.report().findings if f.id == "saddle_point")
    rules = [r.rule for r in saddle.because]
    assert rules[0] == "start_with_training_loss"
    assert rules[-1] == "negative_curvature_is_saddle"
    assert "deeper_worse_means_optimization" in rules
    used = {q: v for r in saddle.because for q, v in r.answers.items()}
    assert used == LEAVES[2][0]
    assert all(r.says for r in saddle.because)


def test_overfitting_remedies_carry_the_lecture() -> None:
    s = Session()
    s.load_answers(LEAVES[5][0])
    (f,) = s.report().findings
    text = " ".join(f.remedies).lower()
    for needle in (
        "more training data",
        "augmentation",
        "fewer parameters",
        "early stopping",
        "regularization",
        "dropout",
        "model bias",
    ):
        assert needle in text, needle
