"""Every caller of a judgement gives the same verdict on the same numbers.

The expected verdicts are worked out by hand from the rule's definition in rules/judgements.py
(the lecture's reading: a held-out loss is large for the TASK, measured against the trivial
predictor's loss, ln C for C balanced classes), never taken from the code's output:

- held-out loss >= 50% of the trivial loss: large;
- else large when the gap to the training loss is >= 10% of the trivial loss (and beyond 3 standard
  errors, which the tiny errors below never limit); otherwise not large;
- no trivial loss known: >= 1.5x the training loss large, < 1.4x not, in between unsure;
- a user target alone decides; a gradient norm below 1e-3 is zero.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from probes.generalization import SplitLoss, decide_split
from probes.history import history_outcome
from rules.judgements import GRADIENT_ZERO, eigenvalue_negative, gradient_small, held_out_large, loss_large
from tui.answer_parsing import understand

LN10 = math.log(10)  # 2.3026: the trivial loss for 10 balanced classes; a material gap is 0.230

# (train, validation, expected val_loss_large with 10 classes, how the answer follows from the rule)
WITH_CLASSES = [
    # the example: 0.40 / 2.3026 = 17% < 50%; gap 0.10 < 0.230 -> not large (1.33x alone is no scale)
    (0.30, 0.40, "no"),
    # 1.20 / 2.3026 = 52% >= 50% -> large, whatever the training loss
    (0.30, 1.20, "yes"),
    # 0.60 / 2.3026 = 26%; gap 0.50 >= 0.230 -> large
    (0.10, 0.60, "yes"),
    # 0.25 / 2.3026 = 11%; gap 0.20 < 0.230 -> not large although it is 5x the training loss
    (0.05, 0.25, "no"),
    # 0.55 / 2.3026 = 24%; gap 0.25 >= 0.230 -> large
    (0.30, 0.55, "yes"),
]


def _split(name: str, loss: float) -> SplitLoss:
    return SplitLoss(name, loss, se=1e-4, samples=10_000, trivial=LN10)


def _csv(tmp_path: Path, train: float, val: float) -> Path:
    """A real CSV log: both curves fall steadily and flatten at their final values (no rise from a
    best value, so only the final levels matter)."""
    rows = ["epoch,train_loss,val_loss"]
    for epoch in range(30):
        k = max(0, 20 - epoch) / 20  # 1 -> 0 over 20 epochs, then flat for 10
        rows.append(f"{epoch},{train + 2.0 * k:.6f},{val + 1.9 * k:.6f}")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _tui(text: str, question: str) -> str | None:
    return {c.question: c.value for c in understand(text).claims}.get(question)


@pytest.mark.parametrize(("train", "val", "expected"), WITH_CLASSES)
def test_every_caller_agrees_with_a_trivial_loss(
    tmp_path: Path, train: float, val: float, expected: str
) -> None:
    assert held_out_large(val, train, trivial=LN10).verdict == expected
    assert decide_split(_split("validation", val), _split("train", train), None)[0] == expected
    assert _tui(f"train loss {train}, validation loss {val}, 10 classes", "val_loss_large") == expected
    outcome = history_outcome(str(_csv(tmp_path, train, val)), classes=10)
    assert outcome.answers["train_loss_large"] == "no"  # <= 13% of ln 10 in every row: small
    assert outcome.answers["val_loss_large"] == expected, outcome.summary


# no trivial loss: the ratio to the training loss decides (the TUI with two numbers, the rule itself)
RATIO_ONLY = [
    (2.3, 2.9, "no"),  # 1.26x < 1.4x (the TUI's former private rule, 1.2x, said yes)
    (0.30, 0.40, "no"),  # 1.33x < 1.4x
    (1.0, 1.45, "unsure"),  # between 1.4x and 1.5x: the TUI asks instead of claiming
    (1.0, 1.5, "yes"),  # exactly 1.5x
    (0.2, 0.9, "yes"),  # 4.5x
]


@pytest.mark.parametrize(("train", "val", "expected"), RATIO_ONLY)
def test_callers_agree_without_a_trivial_loss(train: float, val: float, expected: str) -> None:
    assert held_out_large(val, train).verdict == expected
    tui = _tui(f"train loss {train}, validation loss {val}", "val_loss_large")
    assert tui == (None if expected == "unsure" else expected)


@pytest.mark.parametrize(
    ("val", "target", "expected"), [(0.40, 0.35, "yes"), (0.40, 0.40, "no"), (0.40, 1.0, "no")]
)
def test_a_target_decides_for_every_caller(val: float, target: float, expected: str) -> None:
    # above the target is large, at or below it is not, whatever the trivial loss says
    assert held_out_large(val, 0.30, trivial=LN10, target=target).verdict == expected
    assert decide_split(_split("validation", val), _split("train", 0.30), target)[0] == expected
    assert _tui(f"train loss 0.3, validation loss {val}, target {target}", "val_loss_large") == expected


@pytest.mark.parametrize(
    ("loss", "expected"),
    [(1.20, "yes"), (1.1513, "yes"), (1.15, "unsure"), (0.47, "unsure"), (0.46, "no"), (0.05, "no")],
)
def test_training_loss_against_ln10(loss: float, expected: str) -> None:
    # 50% of ln 10 is 1.1513, 20% is 0.4605: large at or above the first, small at or below the second
    assert loss_large(loss, LN10).verdict == expected
    tui = _tui(f"train loss {loss}, 10 classes", "train_loss_large")
    assert tui == (None if expected == "unsure" else expected)


@pytest.mark.parametrize(("norm", "expected"), [(0.0, "yes"), (9.99e-4, "yes"), (1e-3, "no"), (0.5, "no")])
def test_gradient_zero_below_the_homework_threshold(norm: float, expected: str) -> None:
    assert GRADIENT_ZERO == 1e-3  # HW2-2's convention
    assert gradient_small(norm).verdict == expected
    assert _tui(f"gradient norm {norm}", "gradient_norm_small") == expected


@pytest.mark.parametrize(
    ("lambda_min", "radius", "expected"),
    [(-0.02, 10.0, "yes"), (-0.01, 10.0, "no"), (-0.005, 10.0, "no"), (0.0, 10.0, "no"), (-5.0, 5.0, "yes")],
)
def test_eigenvalue_clearly_negative(lambda_min: float, radius: float, expected: str) -> None:
    # clearly negative below -1e-3 x the spectral radius: -0.01 for a radius of 10 (strict)
    assert eigenvalue_negative(lambda_min, radius).verdict == expected
