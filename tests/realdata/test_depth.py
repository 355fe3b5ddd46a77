"""Model bias or optimization issue on real data, with the depth ladder and the easy reference.

Ground truth: closed-form least squares (torch.linalg.lstsq) for what a linear model reaches; both
depths of a comparison trained again in plain torch in the test; the Hessian at a saddle computed
with torch.autograd.functional.hessian of a loss written out here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.context import ProbeContext
from probes.depth import depth_probe
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
from tests.realdata.test_learning_rate import power_iteration_lambda_max

BMI = 2  # the diabetes column holding the body-mass index


def one_feature_setup(**extra) -> Setup:
    """Diabetes progression from the body-mass index alone: the function set lacks the inputs."""
    x, y = diabetes()
    fields = {
        "model": lambda d: mlp(1, 1, 16, d),
        "depth": 2,
        "train": (x[:, BMI : BMI + 1], y),
        "loss": nn.MSELoss(),
        "optimizer": lambda p: torch.optim.Adam(p, lr=1e-2),
        "steps": 300,
        "batch_size": 64,
    }
    return Setup(**{**fields, **extra})


def test_one_input_feature_is_model_bias():
    x, y = diabetes()
    setup = one_feature_setup()
    # ground truth: a line through the BMI alone leaves 66% of the variance; all ten features leave
    # 48%: the remedy for model bias (more input features) is what lowers the loss
    bmi_only, all_features = least_squares_loss(x[:, BMI : BMI + 1], y), least_squares_loss(x, y)
    assert bmi_only > 0.6 and all_features < 0.5
    session, ctx, _ = diagnose(setup)
    assert findings(session) == ["model_bias"]
    trained = ctx.trained().final_train_loss
    assert trained == pytest.approx(bmi_only, rel=0.1)  # the net does no better than the line
    ladder = evidence(session, "deeper_model_worse")
    assert ladder["reference"]["user_depth"] == 2


def test_a_model_builder_that_ignores_depth_cannot_decide():
    # the factory returns the same 2-layer net for every depth: the old probe said "deeper not
    # worse (clear)" and the walk concluded model_bias
    session, _, _ = diagnose(one_feature_setup(model=lambda d: mlp(1, 1, 16, 2)))
    assert session.report().answers["deeper_model_worse"].value == "unsure"
    assert any("Fix the setup" in n for n in session.notes)
    assert "model_bias" not in findings(session)


def deep_sigmoid_setup() -> Setup:
    x, y = load("digits")
    return Setup(
        model=lambda d: mlp(64, 10, 32, d, nn.Sigmoid),
        depth=6,
        depths=[1, 6],
        train=(standardized(x), y),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.5),
        steps=300,
        batch_size=128,
    )


def plain_train(depth: int, setup: Setup, seed: int) -> float:
    """The recipe in plain torch: mini-batch SGD on random batches, final full-data loss."""
    x, y = setup.train
    torch.manual_seed(seed)
    model = mlp(64, 10, 32, depth, nn.Sigmoid)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    gen = torch.Generator().manual_seed(100 + seed)
    for _ in range(setup.steps):
        idx = torch.randint(0, len(x), (128,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


@pytest.mark.slow
def test_a_deep_plain_sigmoid_net_trains_worse_than_a_shallow_one():
    setup = deep_sigmoid_setup()
    # ground truth, in plain torch: six sigmoid layers stay near ln 10 while one layer learns
    deep = [plain_train(6, setup, s) for s in (0, 1)]
    shallow = [plain_train(1, setup, s) for s in (0, 1)]
    assert min(deep) > 2 * max(shallow)
    outcome = depth_probe(ProbeContext(setup))
    assert outcome.answers["deeper_model_worse"] == "yes"
    assert outcome.answers["simple_model_better"] == "yes"  # logistic regression fits digits well


@pytest.mark.slow
def test_a_deep_plain_sigmoid_net_is_an_optimization_issue():
    # needs the engine fix of issue 10 (h1): two rules conclude optimization_issue here, which
    # crashed durable-rules before
    setup = deep_sigmoid_setup()
    session, _, _ = diagnose(setup)
    found = findings(session)
    assert "optimization_issue" in found and "model_bias" not in found
    # the loss never moves, so the learning-rate check runs, and here the answer is "within": the
    # sharpness at initialization, by plain-torch power iteration on the probe's 1024 samples, puts
    # the limit 2 / lambda_max above the learning rate 0.5. Depth, not the step, is the problem.
    x, y = setup.train
    torch.manual_seed(setup.seed)
    init = mlp(64, 10, 32, 6, nn.Sigmoid)
    torch.manual_seed(1)
    truth = power_iteration_lambda_max(init, x[:1024], y[:1024])
    assert 2 / truth > 0.5
    assert session.report().answers["learning_rate_exceeds_stability"].value == "no"
    assert "learning_rate_too_high" not in found


class ZeroChain(nn.Module):
    """`depth + 1` bias-free linear maps 10 -> 4 -> ... -> 1, all zero: the origin is a critical point."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        sizes = [10] + [4] * depth + [1]
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:], strict=False)
        )
        for layer in self.layers:
            nn.init.zeros_(layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def test_a_zero_initialized_linear_chain_sits_on_a_saddle():
    x, y = diabetes()
    setup = Setup(
        model=ZeroChain,
        depth=1,
        depths=[1, 2],
        train=(x, y),
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=100,
        batch_size=64,
    )

    # ground truth: the Hessian at the origin of L(W1, w2) = mean((x W1^T w2^T - y)^2), by autograd
    # on this function (not traindoc's products): eigenvalues +-s, s the singular values of 2 y^T x / n
    def loss(theta: torch.Tensor) -> torch.Tensor:
        w1, w2 = theta[:40].view(4, 10), theta[40:].view(1, 4)
        return ((x.double() @ w1.T @ w2.T - y.double()) ** 2).mean()

    hessian = torch.autograd.functional.hessian(loss, torch.zeros(44, dtype=torch.float64))
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert float(eigenvalues[0]) < -0.1 and float(eigenvalues[0]) == pytest.approx(-float(eigenvalues[-1]))
    session, _, _ = diagnose(setup)
    assert findings(session) == ["optimization_issue", "saddle_point"]
    data = evidence(session, "hessian_negative_eigenvalue")
    assert data["lambda_min"] == pytest.approx(float(eigenvalues[0]), rel=1e-3)
    assert data["gradient_norm"] < 1e-6
