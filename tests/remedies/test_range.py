"""The learning-rate range test (Smith 2017) and its cap at the stability limit, on real data.

Ground truth:
- `range_reading` on a closed-form sweep: a loss that is a logistic step in ln(lr) falls fastest exactly
  at its midpoint `a`, and a loss that only rises has no descent to suggest.
- scikit-learn's diabetes (442 x 10) and digits (first 500 x 64, one-hot targets) data sets, fitted by
  least squares with a linear model and full-batch steps: the loss is a quadratic with the constant
  Hessian H = 2/(n k) X1^T X1 (X1 = inputs with a column of ones, k outputs of a mean-reduced MSE), so
  lambda_max is the largest eigenvalue of that matrix (torch.linalg.eigvalsh, written here) and gradient
  descent is stable exactly below 2/lambda_max. Below it every eigen-component of the error contracts,
  so the loss cannot grow at all: the sweep can only stop (loss above 4x its lowest) past that limit.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from probes.context import ProbeContext
from probes.remedies.run import STABLE_SHARE, Remedies, judge, lr_range, range_reading
from probes.setup import Setup

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn gives the real data sets")


def test_steepest_descent_of_a_logistic_step_is_its_midpoint() -> None:
    a = 3e-3
    lrs = [1e-6 * (1e7) ** (i / 199) for i in range(200)]
    losses = [1.0 - 0.8 / (1.0 + math.exp(-(math.log(x) - math.log(a)))) for x in lrs]
    reading = range_reading(lrs, losses)
    step = (1e7) ** (1 / 199)  # one grid step: the reading is exact to the grid
    assert a / step <= reading["steepest_lr"] <= a * step
    assert reading["lowest"] == len(lrs) - 1  # still falling at the end: lowest at the last rate


def test_a_loss_that_only_rises_suggests_nothing() -> None:
    lrs = [1e-6 * (1e7) ** (i / 99) for i in range(100)]
    reading = range_reading(lrs, [1.0 + 0.01 * i for i in range(100)])
    assert reading["steepest"] is None and reading["lowest"] == 0


def _least_squares(name: str, x: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[Setup, float, float]:
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-8)  # standardised features (constant pixels stay 0)
    n, k = len(x), y.shape[1]
    x1 = torch.cat([x, torch.ones(n, 1)], dim=1).double()
    lambda_max = float(torch.linalg.eigvalsh(2.0 / (n * k) * x1.T @ x1)[-1])
    w = torch.linalg.pinv(x1) @ y.double()  # the least-squares optimum, closed form (pinv: rank-deficient)
    optimum = float(((x1 @ w - y.double()) ** 2).mean())
    setup = Setup(
        name=name,
        model=lambda depth: nn.Linear(x.shape[1], k),
        depth=0,
        train=(x.float(), y.float()),
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=lr),
        steps=400,
        batch_size=n,  # full batch: plain gradient descent on the quadratic
        task="regression",
    )
    return setup, lambda_max, optimum


def _diabetes(lr: float) -> tuple[Setup, float, float]:
    data = sklearn_datasets.load_diabetes()
    x, y = torch.tensor(data.data), torch.tensor(data.target)
    return _least_squares("diabetes", x, ((y - y.mean()) / y.std()).unsqueeze(1), lr)


def _digits(lr: float) -> tuple[Setup, float, float]:
    data = sklearn_datasets.load_digits()
    x, y = torch.tensor(data.data[:500]), torch.tensor(data.target[:500])
    return _least_squares("digits", x, nn.functional.one_hot(y, 10).double(), lr)


@pytest.mark.parametrize("load", [_diabetes, _digits], ids=["diabetes", "digits"])
def test_range_test_on_least_squares_respects_the_closed_form_limit(load) -> None:  # noqa: ANN001
    setup, lambda_max, optimum = load(1e-3)  # a timid rate: 1e-3 is far below 2/lambda_max on both
    limit = 2.0 / lambda_max
    r = Remedies(ProbeContext(setup), ["optimization_issue"])
    margin, _ = r.noise()
    (result,) = lr_range(r)
    judge(r, result, margin)
    data = result.data
    # the Lanczos lambda_max behind the cap is the closed form's
    assert data["stability_limit"] == pytest.approx(limit, rel=1e-2)
    # gradient descent on a quadratic cannot blow up below 2/lambda_max: the sweep stops past it
    assert data["stop_lr"] > limit
    # the suggestion is never above the stable rate; when the reading was above, it says so
    assert data["suggested_lr"] <= limit
    if data["capped"]:
        assert data["suggested_lr"] == pytest.approx(STABLE_SHARE * limit, rel=1e-2)
        assert "capped" in result.note and "above the stability limit" in result.note
    else:  # Smith's readings: the larger of the steepest descent and a tenth of the lowest loss's rate
        assert data["suggested_lr"] == max(data["steepest_lr"], data["lowest_lr"] / 10)
    # the timid user rate leaves the fit far from the closed-form optimum; the suggested rate reaches it
    assert result.before.train > 1.2 * optimum
    assert result.after.train <= 1.01 * optimum
