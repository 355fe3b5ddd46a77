"""The verdict rule, exhaustively over the finite space of signs: a change counts only beyond the margin."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from probes.remedies.result import Losses, RemedyResult
from probes.remedies.run import judge


class _Judged:
    """The part of `Remedies` that `judge` reads: which loss is judged."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def judged(self, losses: Losses) -> float | None:
        return losses.get(self.metric)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "before", "delta", "margin"),
    list(
        itertools.product(
            ("train", "val"), (0.5, 2.0), (-0.3, -0.15, -0.05, 0.0, 0.05, 0.15, 0.3), (0.1, 0.25)
        )
    ),
)
def test_helps_only_beyond_the_margin(metric: str, before: float, delta: float, margin: float) -> None:
    result = RemedyResult(
        id="adam",
        title="Adam",
        status="no_change",
        before=Losses(**{metric: before}),
        after=Losses(**{metric: before + delta}),
    )
    judge(_Judged(metric), result, margin)  # type: ignore[arg-type]
    expected = "helps" if delta < -margin else ("hurts" if delta > margin else "no_change")
    assert result.status == expected
    assert result.change == pytest.approx(delta)
    assert result.margin == margin


def test_a_change_of_exactly_the_margin_is_noise() -> None:
    result = RemedyResult(
        id="adam", title="Adam", status="no_change", before=Losses(train=1.0), after=Losses(train=0.75)
    )
    judge(_Judged("train"), result, 0.25)  # type: ignore[arg-type]
    assert result.status == "no_change"


@pytest.mark.parametrize("status", ["diverged", "skipped", "not_tried"])
def test_results_without_an_after_are_never_judged(status: str) -> None:
    result = RemedyResult(id="adam", title="Adam", status=status, before=Losses(train=1.0))  # type: ignore[arg-type]
    judge(_Judged("train"), result, 0.1)  # type: ignore[arg-type]
    assert result.status == status and result.change is None


def test_a_missing_judged_loss_is_skipped_not_guessed() -> None:
    result = RemedyResult(
        id="adam", title="Adam", status="no_change", before=Losses(train=1.0), after=Losses(train=0.1)
    )
    judge(_Judged("val"), result, 0.1)  # type: ignore[arg-type]
    assert result.status == "skipped" and "no val loss" in result.note


@pytest.mark.parametrize("seed", range(5))
def test_skipping_the_confirmation_of_a_decisive_change_never_makes_a_false_help_likelier(seed: int) -> None:
    """Under seed noise alone (a remedy that changes nothing; losses of independent seeds ~ N(0, 1)),
    simulated here: the one-seed path taken when the change is wider than DECISIVE margins calls noise
    a help less often than the confirmed path (first seed beyond the margin, then the two-seed means
    beyond margin / sqrt 2). Closed form of the first, ignoring the shared baseline seed: a ratio of
    normals is Cauchy, P(Z > 2k|Z'|) = atan(1 / 2k) / pi = 5.3% for k = 3."""
    from probes.remedies.run import DECISIVE, NOISE_FACTOR

    g = torch.Generator().manual_seed(seed)
    b0, b1, r0, r1 = torch.randn(4, 200_000, generator=g)  # baseline and remedy, seeds 0 and 1
    margin = NOISE_FACTOR * (b0 - b1).abs()
    first = r0 - b0 < -margin
    confirmed = first & (((r0 + r1) - (b0 + b1)) / 2 < -margin / math.sqrt(2))
    decisive = r0 - b0 < -DECISIVE * margin
    assert float(decisive.float().mean()) < float(confirmed.float().mean())
    assert float(decisive.float().mean()) == pytest.approx(math.atan(1 / (2 * DECISIVE)) / math.pi, abs=0.01)
