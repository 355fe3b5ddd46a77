"""Curve analysis rules on curves built by hand, where the right answer is known in advance."""

from __future__ import annotations

import math

import pytest

from probes.base import ProbeError
from probes.history import History, HistoryOptions, Series, analyse, history_outcome
from probes.history._baseline import entropy, smoothing_floor
from tests.history.conftest import curve


def _series(
    name: str, values: list[float], split: str = "train", role: str = "loss", x: str = "epoch", **kw
) -> Series:
    return Series(
        name=name,
        role=role,
        split=split,
        x=x,
        steps=[float(i) for i in range(len(values))],
        values=values,
        **kw,
    )


def _history(*series: Series) -> History:
    return History(source="test", format="test", series=list(series))


def _csv(write, name: str, columns: dict[str, list[float]]) -> str:
    keys = list(columns)
    rows = [",".join(["epoch", *keys])]
    rows += [",".join([str(i), *(repr(columns[k][i]) for k in keys)]) for i in range(len(columns[keys[0]]))]
    return str(write(name, "\n".join(rows) + "\n"))


# -- baselines ----------------------------------------------------------------------------------------


def test_baseline_formulas() -> None:
    assert entropy([0.5, 0.5]) == pytest.approx(math.log(2))
    assert entropy([90, 10]) == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))
    # eps = 0.1 over 10 classes: q = 0.91 on the true class, 0.01 on each of the 9 others
    assert smoothing_floor(0.1, 10) == pytest.approx(-(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01)))
    assert smoothing_floor(0.0, 10) == 0.0


def test_user_classes_decide_the_training_verdict(write) -> None:
    spec = _csv(write, "m.csv", {"loss": curve(20, 2.3, 1.9)})
    assert history_outcome(spec, classes=10).answers["train_loss_large"] == "yes"  # 1.9 / ln 10 = 83%
    # between a fifth and a half of the baseline only the user's target can tell (rules/thresholds.py)
    assert history_outcome(spec, classes=1000).answers["train_loss_large"] == "unsure"  # 1.9 / ln 1000 = 28%
    assert history_outcome(spec, classes=100_000).answers["train_loss_large"] == "no"  # 1.9 / ln 1e5 = 17%


def test_label_smoothing_floor_is_taken_off(write) -> None:
    # eps 0.1 over 10 classes: the loss cannot go below 0.50; 0.62 is close to that floor
    spec = _csv(write, "m.csv", {"loss": curve(20, 2.3, 0.62)})
    plain = history_outcome(spec, classes=10)
    smoothed = history_outcome(spec, classes=10, label_smoothing=0.1)
    assert smoothed.data["analysis"]["baseline"]["floor"] == pytest.approx(0.5003, abs=1e-3)
    # 0.62 is 27% of ln 10 (between the rules), but only 7% of the way from the floor to ln 10
    assert plain.answers["train_loss_large"] == "unsure" and smoothed.answers["train_loss_large"] == "no"
    assert any("floor" in r for r in smoothed.rules)


def test_class_priors_lower_the_baseline(write) -> None:
    # 95/5 imbalance: predicting the priors scores 0.199; a loss of 0.19 has learned nothing
    spec = _csv(write, "m.csv", {"loss": curve(20, 0.69, 0.19)})
    assert history_outcome(spec, priors=[95, 5]).answers["train_loss_large"] == "yes"
    assert history_outcome(spec, classes=2).answers["train_loss_large"] == "unsure"  # 27% of ln 2


def test_a_first_loss_at_ln_c_alone_is_no_baseline(write) -> None:
    # issue 11: a loss near ln C is no evidence of C classes (LM and regression losses fall near
    # some ln C too); the training-loss question stays open and the outcome names the fact to give
    spec = _csv(write, "m.csv", {"loss": curve(20, math.log(10) + 0.003, 0.6)})
    o = history_outcome(spec)
    assert o.data["analysis"]["baseline"]["source"] == "none"
    assert "train_loss_large" not in o.answers
    assert o.data["needs"] == [
        {
            "question": "train_loss_large",
            "fact": "classes",
            "options": ["--classes C", "--baseline LOSS"],
            "why": o.data["analysis"]["baseline"]["explanation"],
        }
    ]
    assert "--classes" in o.summary
    # given the count, the same file is judged: 0.6 / ln 10 = 26%, between the rules
    assert history_outcome(spec, classes=10).answers["train_loss_large"] == "unsure"


@pytest.mark.parametrize(
    ("first_accuracy", "classes"),
    [
        (0.10, 10),  # chance 1/10 exactly: uniform predictions over 10 classes
        (0.105, 10),  # within a tenth of chance (0.01)
        (0.12, None),  # 0.02 above chance: the model already learned something, C not shown
        (0.30, None),  # far above chance
    ],
)
def test_ln_c_with_an_accuracy_at_chance_is_evidence(write, first_accuracy, classes) -> None:
    # ground truth by construction: first loss ln 10 + 0.003 and a first accuracy at/off 1/10
    n = 20
    acc = [first_accuracy + (0.9 - first_accuracy) * i / (n - 1) for i in range(n)]
    spec = _csv(write, "m.csv", {"loss": curve(n, math.log(10) + 0.003, 0.3), "accuracy": acc})
    baseline = history_outcome(spec).data["analysis"]["baseline"]
    assert baseline["classes"] == classes
    assert baseline["source"] == ("detected" if classes else "none")


def test_bad_options_are_one_line_errors(write) -> None:
    spec = _csv(write, "m.csv", {"loss": curve(5, 1.0, 0.5)})
    with pytest.raises(ProbeError, match="classes"):
        history_outcome(spec, classes=1)
    with pytest.raises(ProbeError, match="label_smoothing"):
        history_outcome(spec, label_smoothing=1.5)


# -- validation: GL, early stopping, over-confidence --------------------------------------------------


def test_generalization_loss_and_early_stopping() -> None:
    val = [1.0, 0.8, 0.7, 0.72, 0.75, 0.8, 0.9]
    h = _history(_series("loss", curve(7, 1.0, 0.2)), _series("val_loss", val, "val"))
    check = analyse(h, HistoryOptions(patience=3, gl_alpha=5)).held_out[0]
    es = check.early_stopping
    assert (check.best_step, check.best_value) == (2, 0.7)
    assert check.generalization_loss == pytest.approx(100 * (0.9 / 0.7 - 1))
    assert (es.stop_step, es.restore_step) == (5, 2)  # three evaluations without a new best
    assert es.gl_stop_step == 4  # 0.75 / 0.7 - 1 = 7.1% > 5%, while 0.72 is only 2.9%
    assert check.overfitting_onset_step == 2


@pytest.mark.parametrize(
    ("accuracy", "verdict", "answer"),
    [
        # issue 11: over-confidence is reported beside overfitting, not instead of it
        ([0.5, 0.6, 0.7, 0.75, 0.8, 0.82], "overconfidence", "yes"),
        ([0.5, 0.6, 0.7, 0.68, 0.64, 0.6], "metric_worse", "yes"),
        ([0.5, 0.6, 0.7, 0.70, 0.70, 0.701], "metric_flat", "yes"),
    ],
)
def test_rising_val_loss_is_judged_with_the_metric(write, accuracy, verdict, answer) -> None:
    cols = {
        "loss": curve(6, 1.2, 0.05),
        "val_loss": [1.1, 0.8, 0.6, 0.7, 0.85, 1.0],
        "val_accuracy": accuracy,
    }
    o = history_outcome(_csv(write, "m.csv", cols))
    check = o.data["analysis"]["held_out"][0]
    assert check["metric_check"]["verdict"] == verdict
    assert o.answers["val_loss_large"] == answer


def test_val_close_to_train_is_not_large(write) -> None:
    o = history_outcome(
        _csv(write, "m.csv", {"loss": curve(10, 1.0, 0.1), "val_loss": curve(10, 1.0, 0.105)})
    )
    assert o.answers["val_loss_large"] == "no"


def test_a_test_curve_answers_test_loss_large(write) -> None:
    o = history_outcome(
        _csv(
            write,
            "m.csv",
            {"loss": curve(8, 1.0, 0.1), "val_loss": curve(8, 1.0, 0.11), "test_loss": curve(8, 1.0, 0.6)},
        )
    )
    assert o.answers["test_loss_large"] == "yes" and o.answers["val_loss_large"] == "no"


# -- divergence, trend, noise -------------------------------------------------------------------------


def test_blow_up_is_divergence() -> None:
    values = curve(30, 2.0, 0.3) + [0.5, 1.0, 2.5, 6.0, 15.0, 40.0, 90.0, 200.0]
    a = analyse(_history(_series("loss", values, x="step")))
    assert (a.divergence.status, a.divergence.kind) == ("diverged", "blowup")


def test_inf_is_divergence_and_a_recovered_spike_is_not() -> None:
    a = analyse(_history(_series("loss", [2.0, 1.5, 1.2, math.inf, math.inf])))
    assert (a.divergence.kind, a.divergence.recovered) == ("inf", False)
    spiky = curve(40, 2.0, 0.2)
    spiky[25] = 5.0  # one batch jumps above the starting loss, training goes on
    b = analyse(_history(_series("loss", spiky, x="step")))
    assert b.divergence.status == "stable"
    assert [s.step for s in b.noise[0].spikes] == [25]


@pytest.mark.parametrize(
    ("values", "status"),
    [
        (curve(40, 2.0, 0.5), "plateau"),
        ([2.0 - 1.5 * i / 39 for i in range(40)], "still_falling"),
        ([1.386 + 0.001 * (-1) ** i for i in range(40)], "flat"),
    ],
)
def test_trend(values, status) -> None:
    assert analyse(_history(_series("loss", values, x="step"))).train_trend.status == status


def test_minibatch_noise_is_not_oscillation_but_wild_validation_is() -> None:
    import random

    rng = random.Random(0)
    batches = [max(0.0, 0.05 + rng.gauss(0, 0.03)) for _ in range(300)]
    batches[0] = 2.3
    calm = analyse(_history(_series("loss", batches, x="step")))
    assert not calm.noise[0].oscillating  # spread ~0.03 against a scale of 2.3
    wild = [5000.0, 2700, 4000, 2300, 1300, 2400, 1250, 700, 1300, 600, 2200, 650, 560, 1100, 520]
    a = analyse(_history(_series("loss", curve(15, 5000, 300)), _series("val_loss", wild, "val")))
    assert next(n for n in a.noise if n.name == "val_loss").oscillating


def test_no_training_curve_leaves_training_open(write) -> None:
    o = history_outcome(_csv(write, "m.csv", {"val_loss": curve(5, 1.0, 0.5)}))
    assert "train_loss_large" not in o.answers and "loss_diverged" not in o.answers


def test_priors_must_be_frequencies(write) -> None:
    spec = _csv(write, "m.csv", {"loss": curve(5, 1.0, 0.5)})
    for bad in ([1.0], [0.0, 0.0], [0.5, -0.5]):
        with pytest.raises(ProbeError, match="priors"):
            history_outcome(spec, priors=bad)
    with pytest.raises(ProbeError, match="baseline"):
        history_outcome(spec, baseline=0.0)
