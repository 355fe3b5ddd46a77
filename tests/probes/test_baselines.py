"""The baselines probe: trivial predictors and the easy reference against brute-force numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from probes.base import ProbeError
from probes.baselines import (
    Baselines,
    ReferenceFit,
    baselines_probe,
    compute_baselines,
    decide_train_loss_large,
    fit_reference,
    trivial_loss_on,
)
from probes.context import ProbeContext
from probes.demos import mlp
from probes.setup import Setup

# tiny models train faster on one thread than on two contended ones
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def regression_setup(n: int = 512, steps: int = 40, **extra) -> Setup:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    y = (x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 + 0.1 * torch.randn(n, generator=gen)).unsqueeze(1)
    return Setup(
        model=lambda d: mlp(3, 1, 16, d),
        depth=1,
        train=(x, y),
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=steps,
        **extra,
    )


def imbalanced_classification(n: int = 600, classes: int = 3, log_softmax: bool = False, **extra) -> Setup:
    gen = torch.Generator().manual_seed(1)
    y = torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), n, replacement=True, generator=gen)
    x = torch.randn(n, 2, generator=gen) + 3 * nn.functional.one_hot(y, classes)[:, :2].float()

    def model(d: int) -> nn.Module:
        net = mlp(2, classes, 16, d)
        return nn.Sequential(net, nn.LogSoftmax(dim=1)) if log_softmax else net

    return Setup(
        model=model,
        depth=1,
        train=(x, y),
        loss=nn.NLLLoss() if log_softmax else nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=40,
        **extra,
    )


def test_mean_predictor_loss_is_the_variance_of_the_targets():
    setup = regression_setup()
    base = compute_baselines(ProbeContext(setup))
    y = setup.train[1]
    assert base.task == "regression"
    assert base.trivial_loss == pytest.approx(float(y.var(unbiased=False)), rel=1e-5)
    assert base.constant == pytest.approx([float(y.mean())], rel=1e-5)


@pytest.mark.parametrize("log_softmax", [False, True])
def test_uniform_is_ln_c_and_prior_is_the_entropy_of_the_classes(log_softmax):
    setup = imbalanced_classification(log_softmax=log_softmax)
    base = compute_baselines(ProbeContext(setup))
    counts = torch.bincount(setup.train[1], minlength=3).double()
    p = counts / counts.sum()
    entropy = float(-(p * p.log()).sum())
    assert base.task == "classification" and base.num_classes == 3
    assert base.trivial["uniform"] == pytest.approx(math.log(3), rel=1e-5)
    assert base.trivial["prior"] == pytest.approx(entropy, rel=1e-4)
    assert base.trivial_loss == base.trivial["prior"] < math.log(3)


def test_binary_single_logit_with_bce():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(400, 2, generator=gen)
    y = (torch.rand(400, generator=gen) < 0.2).float().unsqueeze(1)
    setup = Setup(
        model=lambda d: mlp(2, 1, 8, d),
        depth=1,
        train=(x, y),
        loss=nn.BCEWithLogitsLoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=20,
        task="classification",
    )
    base = compute_baselines(ProbeContext(setup))
    p = float(y.mean())
    assert base.num_classes == 2
    assert base.trivial["uniform"] == pytest.approx(math.log(2), rel=1e-5)
    assert base.trivial["prior"] == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)), rel=1e-4)


def test_least_squares_reference_matches_numpy():
    setup = regression_setup()
    x, y = setup.train
    design = np.hstack([x.numpy().astype(np.float64), np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(design, y.numpy().astype(np.float64), rcond=None)
    expected = float(np.mean((design @ coef - y.numpy()) ** 2))
    ref = fit_reference(setup, "regression", None, x, y, torch.zeros_like(y))
    assert ref.kind == "least squares" and ref.skipped is None
    assert ref.loss == pytest.approx(expected, rel=1e-4)


def test_logistic_reference_beats_the_prior_on_separable_blobs():
    setup = imbalanced_classification()
    base = compute_baselines(ProbeContext(setup))
    assert base.reference.kind == "logistic regression"
    assert base.reference.loss is not None and base.reference.loss < 0.5 * base.trivial_loss


def test_reference_is_skipped_when_it_would_say_nothing():
    setup = regression_setup()
    x, y = setup.train
    few = fit_reference(setup, "regression", None, x[:6], y[:6], torch.zeros(6, 1))
    assert few.loss is None and "interpolate" in (few.skipped or "")
    tokens = torch.randint(0, 5, (50, 4))
    ints = fit_reference(setup, "regression", None, tokens, y[:50], torch.zeros(50, 1))
    assert ints.loss is None and "not numeric" in (ints.skipped or "")


def test_trivial_loss_on_other_data_uses_the_training_mean():
    setup = regression_setup()
    ctx = ProbeContext(setup)
    shifted = (setup.train[0][:100], setup.train[1][:100] + 5.0)
    mean = float(setup.train[1].mean())
    expected = float(((shifted[1] - mean) ** 2).mean())
    assert trivial_loss_on(ctx, shifted, "test") == pytest.approx(expected, rel=1e-5)


def test_mismatched_targets_are_one_line_errors():
    setup = regression_setup()
    x, y = setup.train
    bad = setup.model_copy(update={"train": (x, torch.randn(len(x), 5)), "loss": lambda o, t: o.sum() * 0})
    with pytest.raises(ProbeError, match="cannot match targets"):
        compute_baselines(ProbeContext(bad))


def _base(
    train: float, trivial: float = 1.0, ref: float | None = None, target: float | None = None
) -> Baselines:
    return Baselines(
        task="regression",
        num_classes=None,
        samples=100,
        train_loss=train,
        trivial_loss=trivial,
        trivial={"mean": trivial},
        reference=ReferenceFit("least squares", ref, 100, 3, 0.0),
        target_loss=target,
        constant=[0.0],
    )


@pytest.mark.parametrize(
    ("train", "ref", "target", "expected"),
    [
        (0.9, None, None, "yes"),  # leaves 90% of the trivial loss
        (0.5, None, None, "yes"),  # exactly half: large
        (0.05, None, None, "no"),  # R^2 = 0.95
        (0.2, 0.15, None, "no"),  # small; the reference is only 5% of trivial better
        (0.35, None, None, "unsure"),  # in between, nothing else decides
        (0.35, 0.30, None, "unsure"),  # reference better, but by less than 10% of trivial
        (0.35, 0.20, None, "yes"),  # reference better by 15% of trivial
        (0.15, 0.01, None, "yes"),  # small by the band, but an easy model does far better
        (0.9, None, 1.0, "no"),  # the user's target decides
        (0.05, None, 0.01, "yes"),
    ],
)
def test_train_loss_large_rule(train, ref, target, expected):
    answer, rules = decide_train_loss_large(_base(train, ref=ref, target=target))
    assert answer == expected
    assert rules and all(any(ch.isdigit() for ch in r) for r in rules)


def test_probe_states_its_rule_and_caches_for_other_probes():
    setup = regression_setup(steps=150)
    ctx = ProbeContext(setup)
    outcome = baselines_probe(ctx)
    assert outcome.answers == {"train_loss_large": "no"}
    assert outcome.data["trivial"]["mean"] > 0 and outcome.data["reference"]["loss"] is not None
    assert any("%" in r for r in outcome.rules)
    assert compute_baselines(ctx) is compute_baselines(ctx)
    assert ctx.trainings == 1


def test_held_out_losses_are_reported_next_to_their_trivial_loss():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(200, 3, generator=gen)
    y = (x @ torch.tensor([1.0, -2.0, 0.5])).unsqueeze(1) + 1.0  # shifted targets: the trivial loss grows
    setup = regression_setup(steps=100, test=(x, y))
    outcome = baselines_probe(ProbeContext(setup))
    test = outcome.data["held_out"]["test"]
    assert test["trivial_loss"] == pytest.approx(float(((y - setup.train[1].mean()) ** 2).mean()), rel=1e-5)
    assert test["fraction_of_trivial"] == pytest.approx(test["loss"] / test["trivial_loss"])
    assert "Test loss" in outcome.summary and "validation" not in outcome.data["held_out"]
