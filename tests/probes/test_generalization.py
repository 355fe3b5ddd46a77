"""The generalization probe: split losses, the overfitting/mismatch rule and the two-sample check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from assistant.autorun import run_automatic
from assistant.session import Session
from probes.base import ProbeError
from probes.context import ProbeContext
from probes.demos import mlp
from probes.generalization import (
    SplitLoss,
    auc,
    decide_split,
    generalization_probe,
    null_auc_se,
    split_loss,
    two_sample_check,
)
from probes.setup import Setup
from probes.training import evaluate_loss

# tiny models train faster on one thread than on two contended ones
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def data(n: int, gen: torch.Generator, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 2, generator=gen)
    x[:, 0] += shift
    return x, (torch.sin(2 * x[:, :1]) + 0.5 * x[:, 1:]) + 0.05 * torch.randn(n, 1, generator=gen)


def setup_with(train, test=None, val=None, steps: int = 200) -> Setup:
    return Setup(
        model=lambda d: mlp(2, 1, 32, d),
        depth=2,
        train=train,
        val=val,
        test=test,
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=steps,
    )


# -- pieces against brute force ----------------------------------------------------------------------


def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 6, 40).astype(float)
    neg = rng.integers(0, 5, 30).astype(float)
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)]
    assert auc(pos, neg) == pytest.approx(sum(pairs) / len(pairs))
    assert auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5


def test_null_se_of_the_auc():
    # Mann-Whitney: var(U) = n1 n2 (n1 + n2 + 1) / 12, and AUC = U / (n1 n2)
    assert null_auc_se(50, 80) == pytest.approx(np.sqrt(50 * 80 * 131 / 12) / (50 * 80))


def test_two_sample_check_tells_shifted_inputs_apart_and_not_alike_ones():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(600, 5, generator=gen), torch.randn(600, 5, generator=gen)
    same = two_sample_check(a, b)
    assert not same["shifted"] and abs(same["auc"] - 0.5) < 0.1
    wider = two_sample_check(a, 2.5 * torch.randn(600, 5, generator=gen))  # same mean, other spread
    assert wider["shifted"] and wider["auc"] > 0.8
    assert "skipped" in two_sample_check(a[:10], b[:10])
    assert "skipped" in two_sample_check(torch.randint(0, 3, (100, 2)), torch.randint(0, 3, (100, 2)))


def test_split_loss_mean_is_the_evaluated_loss():
    gen = torch.Generator().manual_seed(1)
    setup = setup_with(data(700, gen), steps=30)
    model = ProbeContext(setup).trained().model
    split = split_loss(setup, model, setup.train, "training", trivial=1.0)
    assert split.loss == pytest.approx(evaluate_loss(setup, model, setup.train), rel=1e-5)
    assert 0 < split.se < split.loss and split.samples == 700


@pytest.mark.parametrize(
    ("loss", "se", "target", "expected"),
    [
        (0.60, 0.01, None, "yes"),  # 60% of the trivial loss: large by itself
        (0.30, 0.02, None, "yes"),  # gap 0.25 = 25% of trivial, 12 standard errors
        (0.30, 0.20, None, "unsure"),  # the same gap, but a tiny noisy split
        (0.10, 0.01, None, "no"),  # gap 0.05: significant but immaterial
        (0.30, 0.02, 0.5, "no"),  # the user's target decides
        (0.30, 0.02, 0.1, "yes"),
    ],
)
def test_split_rule(loss, se, target, expected):
    train = SplitLoss("training", 0.05, 0.005, 1000, 1.0)
    answer, rule = decide_split(SplitLoss("test", loss, se, 100, 1.0), train, target)
    assert answer == expected
    assert "test loss" in rule and "->" in rule


# -- the probe on real training ----------------------------------------------------------------------


def test_no_test_set_judges_the_validation_split_alone():
    # issue 10 (was: test_loss_large pending, no finding). Ground truth by construction: training and
    # held-out points come from one smooth function with noise sd 0.05 and 512 points, so a held-out
    # split is as good as the training data: healthy as far as held-out data shows.
    gen = torch.Generator().manual_seed(2)
    setup = setup_with(data(512, gen))
    outcome = generalization_probe(ProbeContext(setup))
    assert outcome.answers == {
        "test_loss_large": "unsure",
        "test_set_available": "no",
        "val_loss_large": "no",
    }
    assert "No separate test set" in outcome.summary and "mismatch cannot be checked" in outcome.summary
    session = Session()
    session.answer("train_loss_large", "no")
    run_automatic(session, ProbeContext(setup))
    report = session.report()
    assert [f.id for f in report.findings] == ["healthy_without_test"] and not report.pending


def test_no_test_set_and_memorised_noise_is_overfitting():
    # Ground truth by construction: the targets are noise independent of the inputs, so no model can
    # predict held-out targets (the best held-out loss is their variance), while a 32-wide net
    # memorises 48 training points.
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(48, 2, generator=gen)
    y = torch.randn(48, 1, generator=gen)
    setup = setup_with((x, y), steps=600)
    outcome = generalization_probe(ProbeContext(setup))
    assert outcome.answers["test_set_available"] == "no"
    assert outcome.answers["val_loss_large"] == "yes"


@pytest.mark.parametrize("kind", ["loader", "dataset"])
def test_holdout_split_from_a_dataloader_or_dataset(kind):
    gen = torch.Generator().manual_seed(3)
    x, y = data(640, gen)
    dataset = TensorDataset(x, y)
    train = DataLoader(dataset, batch_size=32, shuffle=True) if kind == "loader" else dataset
    setup = setup_with(train, test=data(300, gen, shift=3.0))
    ctx = ProbeContext(setup)
    outcome = generalization_probe(ctx)
    assert outcome.answers == {"test_loss_large": "yes", "val_loss_large": "no"}
    val = outcome.data["splits"]["validation"]
    assert val["samples"] == 128 and "held out" in val["source"]
    assert ctx.trainings == 2
    assert outcome.data["two_sample"]["shifted"]


def test_given_validation_split_needs_no_retraining():
    gen = torch.Generator().manual_seed(4)
    setup = setup_with(data(600, gen), test=data(300, gen), val=data(200, gen))
    ctx = ProbeContext(setup)
    outcome = generalization_probe(ctx)
    assert outcome.answers == {"test_loss_large": "no", "val_loss_large": "no"}
    assert outcome.data["splits"]["validation"]["source"] == "Setup.val"
    assert ctx.trainings == 1
    assert not outcome.data["two_sample"]["shifted"]


def test_test_data_of_the_wrong_shape_is_a_one_line_error():
    gen = torch.Generator().manual_seed(5)
    setup = setup_with(data(300, gen), test=(torch.randn(50, 7), torch.randn(50, 1)), steps=20)
    with pytest.raises(ProbeError, match="forward failed") as info:
        generalization_probe(ProbeContext(setup))
    assert "\n" not in info.value.message
