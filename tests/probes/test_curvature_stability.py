"""The learning-rate stability limit against gradient descent itself, on a 1-D quadratic."""

from __future__ import annotations

import math

import pytest
import torch

from probes.stability import StepRule, stability_check

CONFIGS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.5, "nesterov": True},
    {"momentum": 0.9, "dampening": 0.5},
    {"weight_decay": 0.3},
]


def _diverges(lr: float, curvature: float, steps: int = 1500, **kwargs: object) -> bool:
    theta = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=lr, **kwargs)  # type: ignore[arg-type]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * curvature * theta**2).sum().backward()
        opt.step()
    value = float(theta.detach())
    return not math.isfinite(value) or abs(value) > 1.0  # inf - inf turns NaN


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain"
)
def test_limit_separates_stable_from_unstable_sgd(config: dict) -> None:
    curvature = 2.5
    probe_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, **config)
    limit = StepRule.of(probe_opt).limit(curvature)
    assert limit is not None
    assert not _diverges(0.97 * limit, curvature, **config)
    assert _diverges(1.03 * limit, curvature, **config)


def test_plain_sgd_limit_is_two_over_lambda_max() -> None:
    rule = StepRule("SGD", 0.5)
    check = stability_check(rule, lambda_max=5.0, converged=True)
    assert check["limit"] == check["plain_gd_limit"] == pytest.approx(0.4)
    assert check["exceeds"] is True and check["formula"] == "2 / lambda_max"
    assert stability_check(StepRule("SGD", 0.3), 5.0, True)["exceeds"] is False


def test_unconverged_lambda_max_only_proves_exceeding() -> None:
    # an unconverged Ritz value is a lower bound on lambda_max, so its limit is an upper bound
    assert stability_check(StepRule("SGD", 0.5), 5.0, converged=False)["exceeds"] is True
    assert stability_check(StepRule("SGD", 0.3), 5.0, converged=False)["exceeds"] is None


def test_adaptive_or_unknown_optimizers_are_not_decided() -> None:
    adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=10.0)
    check = stability_check(StepRule.of(adam), 5.0, True)
    assert check["optimizer"] == "Adam" and check["applies"] is False and check["exceeds"] is None
    assert check["limit"] == pytest.approx(0.4)
    assert stability_check(StepRule(None, 10.0), 5.0, True)["exceeds"] is None
    assert stability_check(StepRule.of(None), 5.0, True)["learning_rate"] is None


def test_no_upward_curvature_means_no_limit() -> None:
    check = stability_check(StepRule("SGD", 10.0), lambda_max=-1.0, converged=True)
    assert check["limit"] is None and check["exceeds"] is False
