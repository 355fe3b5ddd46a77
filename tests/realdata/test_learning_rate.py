"""Too-high learning rates on real data: the limit named, measured where it matters.

Ground truth: for a linear model under MSE the Hessian is constant, H = 2 AᵀA / n (A the inputs with
an intercept column), so the largest stable plain-SGD rate is 2 / λ_max(H) in closed form, computed
here in float64 with torch.linalg; the runs themselves are replayed in plain torch in each test.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from probes.context import ProbeContext
from probes.demos import clipped_sgd
from probes.learning_rate import learning_rate_probe
from probes.setup import Setup
from tests.realdata.conftest import (
    diabetes,
    diagnose,
    evidence,
    findings,
    least_squares_loss,
    load,
    mlp,
    standardized,
)


def hessian_of_linear_mse(x: torch.Tensor) -> torch.Tensor:
    design = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    return 2 * design.T @ design / len(design)


def stable_rate() -> float:
    x, _ = diabetes()
    return 2 / float(torch.linalg.eigvalsh(hessian_of_linear_mse(x))[-1])


def linear_setup(optimizer, steps: int = 200) -> Setup:
    x, y = diabetes()
    return Setup(
        model=lambda d: mlp(10, 1, 16, d),
        depth=0,
        train=(x, y),
        loss=nn.MSELoss(),
        optimizer=optimizer,
        steps=steps,
        batch_size=len(x),  # full batch: plain gradient descent, the closed form holds exactly
    )


def replay(setup: Setup, clip: float | None = None) -> list[float]:
    """The same run in plain torch: full-batch SGD on a linear model, seeded the same way."""
    x, y = setup.train
    torch.manual_seed(setup.seed)
    model = nn.Linear(10, 1)
    lr = 4 * stable_rate()
    losses = []
    for _ in range(setup.steps):
        loss = ((model(x) - y) ** 2).mean()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        model.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(list(model.parameters()), clip)
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return losses


def test_linear_regression_at_four_times_the_stable_rate_diverges_and_names_the_limit():
    limit = stable_rate()  # 0.2491 on diabetes
    setup = linear_setup(lambda p: torch.optim.SGD(p, lr=4 * limit))
    truth = replay(setup)
    assert not math.isfinite(truth[-1]) or truth[-1] > 1e6  # plain torch: it blows up
    session, _, probes = diagnose(setup)
    assert {"diverged", "learning_rate_too_high"} <= set(findings(session))
    assert "learning_rate" in probes
    data = evidence(session, "learning_rate_exceeds_stability")
    assert data["largest_stable_rate"] == pytest.approx(limit, rel=1e-3)
    assert data["suggested_rate"] == pytest.approx(limit / 2, rel=1e-3)
    assert data["points"][0]["where"] == "initialization"
    text = session.report().answers["learning_rate_exceeds_stability"].evidence.summary
    assert f"{limit:.3g}" in text and "try" in text


def test_the_same_run_with_clipping_is_not_model_bias():
    limit = stable_rate()
    setup = linear_setup(clipped_sgd(4 * limit, max_norm=1.0))
    x, y = setup.train
    truth = replay(setup, clip=1.0)
    best = least_squares_loss(x, y)  # 0.48: what a linear model can reach
    assert all(math.isfinite(v) for v in truth)  # clipping stops the blow-up...
    assert min(truth[-20:]) > 1.5 * best  # ...but the loss stays far above what the model can reach
    session, _, _ = diagnose(setup)
    found = findings(session)
    assert "model_bias" not in found
    assert {"learning_rate_too_high", "optimization_issue"} <= set(found)
    assert "diverged" not in found
    data = evidence(session, "learning_rate_exceeds_stability")
    assert data["largest_stable_rate"] == pytest.approx(limit, rel=1e-3)


def test_the_clipped_run_is_not_at_a_critical_point():
    # bouncing between the valley's walls: the gradient where it stopped is far from zero, measured
    # here in plain torch on the same replayed run
    limit = stable_rate()
    setup = linear_setup(clipped_sgd(4 * limit, max_norm=1.0))
    session, ctx, _ = diagnose(setup)
    model = ctx.trained().model
    x, y = setup.train
    loss = ((model(x) - y) ** 2).mean()
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    assert float(grad.norm()) > 1e-2
    assert "not_at_critical_point" in findings(session)


def test_heavy_ball_momentum_moves_the_limit_and_the_check_follows():
    # 1.5x the plain limit 2/lambda, but under the heavy-ball limit 2(1 + 0.9)/lambda = 3.8/lambda:
    # plain torch heavy ball converges to the least-squares loss, so "within" is the true answer
    limit = stable_rate()
    lr = 1.5 * limit
    setup = linear_setup(lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9), steps=300)
    x, y = setup.train
    torch.manual_seed(0)
    model = nn.Linear(10, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert float(((model(x) - y) ** 2).mean().detach()) == pytest.approx(least_squares_loss(x, y), rel=1e-3)
    outcome = learning_rate_probe(ProbeContext(setup))
    assert outcome.answers["learning_rate_exceeds_stability"] == "no"
    assert outcome.data["largest_stable_rate"] == pytest.approx(2 * 1.9 * limit / 2, rel=1e-3)
    # and at 1.2x the heavy-ball limit it is above
    over = linear_setup(lambda p: torch.optim.SGD(p, lr=1.2 * 1.9 * limit, momentum=0.9), steps=50)
    assert learning_rate_probe(ProbeContext(over)).answers["learning_rate_exceeds_stability"] == "yes"


def digits_relu(lr: float) -> Setup:
    x, y = load("digits")
    return Setup(
        model=lambda d: mlp(64, 10, 64, d),
        depth=2,
        train=(standardized(x), y),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=lr),
        steps=200,
        batch_size=128,
    )


def power_iteration_lambda_max(model: nn.Module, x: torch.Tensor, y: torch.Tensor, iters: int = 100) -> float:
    """Plain torch: the largest-magnitude Hessian eigenvalue by double backward and power iteration."""
    params = list(model.parameters())
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn_like(p, generator=None) for p in params]
    value = 0.0
    for _ in range(iters):
        norm = torch.sqrt(sum((t * t).sum() for t in v))
        v = [t / norm for t in v]
        hv = torch.autograd.grad(grads, params, v, retain_graph=True)
        value = float(sum((a * b).sum() for a, b in zip(hv, v, strict=True)).detach())
        v = [t.detach() for t in hv]
    return value


@pytest.mark.slow
def test_sharpness_that_exploded_then_died_is_measured_at_initialization():
    # SGD at lr 5 on digits: the loss spikes to 1e4 in the first steps, the second hidden layer dies
    # (every ReLU unit zero on every training image) and the net ends predicting the class priors.
    # Where training stopped the surface is flat, so an end-point check says "within".
    setup = digits_relu(5.0)
    x, y = setup.train
    session, ctx, _ = diagnose(setup)
    trained = ctx.trained().model
    with torch.no_grad():
        hidden2 = trained[:4](x)
    dead = int((hidden2.max(0).values <= 0).sum())
    assert dead >= 60  # counted directly: (almost) the whole layer of 64 is dead
    with torch.no_grad():
        final = float(nn.functional.cross_entropy(trained(x), y))
    assert final == pytest.approx(math.log(10), abs=0.05)
    # the sharpness at initialization, in plain torch on the same samples the probe used
    torch.manual_seed(setup.seed)
    init = mlp(64, 10, 64, 2)
    torch.manual_seed(1)
    truth = power_iteration_lambda_max(init, x[:1024], y[:1024])
    assert 2 / truth < 5.0  # the true answer: lr 5 is above the limit at initialization
    data = evidence(session, "learning_rate_exceeds_stability")
    first = data["points"][0]
    assert first["where"] == "initialization" and first["exceeds"] is True
    assert first["lambda_max"] == pytest.approx(truth, rel=0.05)
    assert "learning_rate_too_high" in findings(session)
    # the end-point measurement disagreed and the report says so
    assert any("where training stopped" in n for n in session.notes)
