"""Built-in demos: small CPU setups, seconds each, that reproduce every leaf of the flowchart.

`traindoc diagnose --demo NAME` runs the automatic diagnosis on one; `traindoc demos` lists them.
Each demo states the findings its diagnosis should reach (the tests hold it to that, for several
seeds). The data are synthetic and generated from the seed, so every run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from probes.base import ProbeError
from probes.setup import Setup


@dataclass(frozen=True)
class Demo:
    name: str
    summary: str  # one line for `traindoc demos`
    expected: tuple[str, ...]  # the findings the automatic diagnosis reaches
    build: Callable[[int], Setup]  # seed -> Setup


# -- building blocks --------------------------------------------------------------------------------


def mlp(
    inputs: int, outputs: int, width: int, depth: int, activation: type[nn.Module] = nn.ReLU
) -> nn.Module:
    """`depth` hidden layers of `width` units; depth 0 is a linear model."""
    layers: list[nn.Module] = []
    size = inputs
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    layers.append(nn.Linear(size, outputs))
    return nn.Sequential(*layers)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(10_000 + seed)


def _adam(lr: float) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
    return lambda params: torch.optim.Adam(params, lr=lr)


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(output.reshape(target.shape), target)


def _regression(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, noise: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    return x, f(x) + noise * torch.randn(len(x), generator=gen)


# -- model bias: the inputs leave out what the target depends on --------------------------------------


def _model_bias(seed: int) -> Setup:
    gen = _generator(seed)

    def target(x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.sin(2 * x[:, 0]) + hidden

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 2, generator=gen)
        hidden = torch.randn(n, generator=gen)  # yesterday's count, which the model never sees
        return x, target(x, hidden)

    return Setup(
        name="model_bias",
        model=lambda depth: mlp(2, 1, 32, depth),
        depth=2,
        train=data(1024),
        val=data(256),
        test=data(512),
        loss=_mse,
        optimizer=_adam(1e-2),
        steps=300,
        seed=seed,
        task="regression",
    )


# -- optimization issue: a deep plain network trains worse than a shallow one --------------------------


def _optimization_issue(seed: int) -> Setup:
    gen = _generator(seed)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, 2, generator=gen) * 4 - 2
        return _regression(lambda v: torch.cos(2 * v[:, 0]) + v[:, 0] * v[:, 1], x, 0.05, gen)

    return Setup(
        name="optimization_issue",
        # a plain deep ReLU network, PyTorch's default initialisation, plain SGD: no residual
        # connections, no normalisation (the ResNet paper's "plain" network, in miniature)
        model=lambda depth: mlp(2, 1, 32, depth),
        depth=10,
        train=data(1024),
        test=data(512),
        loss=_mse,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        steps=300,
        seed=seed,
        task="regression",
    )


# -- saddle point: the lecture's "most useless network", y = w1 * w2 * x, started at zero ---------------


class ScalarChain(nn.Module):
    """y = w_{d+1} * ... * w_1 * x: a width-1 linear network with `depth` hidden units, all weights 0.

    At depth 1 this is the lecture's y = w1 w2 x. Every weight starts at 0, a common mistake
    (a constant initialisation): the gradient there is exactly zero, so training never moves.
    """

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(depth + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights.prod()


def _saddle_point(seed: int) -> Setup:
    gen = _generator(seed)
    # x = +1 or -1, target y = x: the loss is exactly the lecture's L = (1 - w1 w2)^2
    x = torch.randint(0, 2, (256, 1), generator=gen).float() * 2 - 1
    return Setup(
        name="saddle_point",
        model=ScalarChain,
        depth=1,
        train=(x, x.clone()),
        test=(-x, -x.clone()),
        loss=nn.functional.mse_loss,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        steps=300,
        seed=seed,
        task="regression",
    )


# -- overfitting: a big network memorises a few noisy points ------------------------------------------


def _overfitting(seed: int) -> Setup:
    gen = _generator(seed)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 8, generator=gen)
        return _regression(lambda v: torch.sin(v[:, 0]) + 0.5 * v[:, 1], x, 0.5, gen)

    return Setup(
        name="overfitting",
        model=lambda depth: mlp(8, 1, 256, depth),
        depth=2,
        train=data(48),  # 48 examples for a network with 68k parameters
        val=data(256),  # held out from the same distribution
        test=data(512),
        loss=_mse,
        optimizer=_adam(3e-3),
        steps=400,
        batch_size=48,
        seed=seed,
        task="regression",
    )


# -- mismatch: the test inputs come from elsewhere ---------------------------------------------------


def _mismatch(seed: int) -> Setup:
    gen = _generator(seed)

    def f(v: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * v[:, 0]) + 0.5 * v[:, 1]

    def data(n: int, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, 2, generator=gen) * 2 - 1
        x[:, 0] = low + (high - low) * torch.rand(n, generator=gen)
        return _regression(f, x, 0.05, gen)

    return Setup(
        name="mismatch",
        model=lambda depth: mlp(2, 1, 32, depth),
        depth=2,
        train=data(1024, -2.0, 1.0),  # last year's sensor range; no validation split given
        test=data(512, 1.5, 3.0),  # this year's: a range the training data never covered
        loss=_mse,
        optimizer=_adam(1e-2),
        steps=300,
        seed=seed,
        task="regression",
    )


# -- learning rate too high: SGD bounces across a narrow valley -----------------------------------------


def clipped_sgd(lr: float, max_norm: float) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
    """Plain SGD with gradient-norm clipping before each step, as many training scripts do.

    Clipping stops the blow-up a too-large step would cause, so the loss does not diverge: it
    stalls while the weights bounce between the walls of the valley.
    """

    def build(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        params = list(params)
        opt = torch.optim.SGD(params, lr=lr)

        def clip(*_: object) -> None:
            nn.utils.clip_grad_norm_(params, max_norm)

        opt.register_step_pre_hook(clip)
        return opt

    return build


def _learning_rate_too_high(seed: int) -> Setup:
    gen = _generator(seed)
    scales = torch.tensor([20.0, 0.2])  # unnormalised inputs, 100x apart in scale: a narrow valley

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, 2, generator=gen)
        # the target hardly depends on the large feature: nearly all of its variance is in the
        # small one, along the flat floor of the valley that the clipped steps barely move along
        return _regression(lambda v: 0.025 * v[:, 0] + 4.5 * v[:, 1], z * scales, 0.05, gen)

    return Setup(
        name="learning_rate_too_high",
        model=lambda depth: mlp(2, 1, 16, depth),
        depth=1,
        train=data(1024),
        test=data(512),
        loss=_mse,
        # the sharpest direction curves about 2 * 20^2 = 800 for a linear model (about 950 for this
        # network, measured): stable steps need lr below about 0.002
        optimizer=clipped_sgd(lr=0.01, max_norm=1.0),
        steps=300,
        seed=seed,
        task="regression",
    )


# -- healthy ---------------------------------------------------------------------------------------


def _healthy(seed: int) -> Setup:
    gen = _generator(seed)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 3, generator=gen)
        return _regression(lambda v: torch.sin(v[:, 0]) + 0.5 * v[:, 1] * v[:, 2], x, 0.1, gen)

    return Setup(
        name="healthy",
        model=lambda depth: mlp(3, 1, 64, depth),
        depth=2,
        train=data(2048),
        val=data(256),
        test=data(512),
        loss=_mse,
        optimizer=_adam(1e-2),
        steps=400,
        seed=seed,
        task="regression",
    )


DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in (
        Demo(
            "model_bias",
            "the target depends on an input the model never sees: every depth plateaus at the same large loss",
            ("model_bias",),
            _model_bias,
        ),
        Demo(
            "optimization_issue",
            "a 10-layer plain ReLU network trains worse than a 1-layer one (ResNet's 56 vs 20 layers, in "
            "miniature); it stalls where the gradient is not zero",
            ("optimization_issue", "not_at_critical_point"),
            _optimization_issue,
        ),
        Demo(
            "saddle_point",
            "the lecture's y = w1*w2*x started at (0, 0): zero gradient, Hessian eigenvalues 2 and -2",
            ("optimization_issue", "saddle_point"),
            _saddle_point,
        ),
        Demo(
            "overfitting",
            "a 68k-parameter network memorises 48 noisy examples; held-out data from the same source is bad too",
            ("overfitting",),
            _overfitting,
        ),
        Demo(
            "mismatch",
            "trained on one input range, tested on another: validation is fine, the test set is not",
            ("mismatch",),
            _mismatch,
        ),
        Demo(
            "learning_rate_too_high",
            "SGD with clipping on badly scaled features: the step is above 2/lambda_max, the loss stalls",
            ("optimization_issue", "not_at_critical_point", "learning_rate_too_high"),
            _learning_rate_too_high,
        ),
        Demo(
            "healthy",
            "a small network that fits and generalises: nothing to fix",
            ("healthy",),
            _healthy,
        ),
    )
}


def demo_setup(name: str, seed: int = 0) -> Setup:
    """The demo's Setup; `seed` changes both the data and the training seed."""
    demo = DEMOS.get(name)
    if demo is None:
        raise ProbeError(f"unknown demo {name!r} (known: {', '.join(DEMOS)})", field="demo")
    return demo.build(seed)


def expected_findings(name: str) -> tuple[str, ...]:
    if name not in DEMOS:
        raise ProbeError(f"unknown demo {name!r} (known: {', '.join(DEMOS)})", field="demo")
    return DEMOS[name].expected


__all__ = ["DEMOS", "Demo", "clipped_sgd", "demo_setup", "expected_findings", "mlp"]
