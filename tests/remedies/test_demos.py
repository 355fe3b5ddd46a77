"""On every demo, the remedies are measured for the findings the demo is built to show, and the top
remedy's before/after numbers are checked against training written here in plain torch.

Ground truth:
- saddle_point: closed form. L(w1, w2) = (1 - w1 w2)^2 on x = +-1; at (0, 0) the loss is exactly 1 and the
  gradient exactly 0, so momentum and Adam (both driven by the gradient) cannot move; the minimum is 0.
- optimization_issue, learning_rate_too_high, overfitting: the best remedy's two-seed before/after means
  are recomputed by a plain training loop in this file (the demo's model, data and loss; the optimizer
  change written out by hand) and must agree.
- model_bias: closed form. The target is 0.5 sin(2 x0) + h with h ~ N(0, 1) never seen by the model, so
  no model can do better than E[h^2] = 1 on held-out data: nothing tried may be called a help.
- mismatch: closed form. Training inputs have x0 in [-2, 1], test inputs x0 in [1.5, 3]: disjoint, so a
  classifier separates them perfectly; no training change is offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from assistant.autorun import run_automatic
from assistant.session import Session
from probes.context import ProbeContext
from probes.demos import demo_setup, expected_findings
from probes.remedies.result import RemedyReport, RemedyResult
from probes.remedies.run import DECISIVE, try_remedies
from probes.setup import Setup


def treat(name: str, seed: int = 0) -> RemedyReport:
    return try_remedies(ProbeContext(demo_setup(name, seed)), list(expected_findings(name)))


def by_id(report: RemedyReport, rid: str) -> list[RemedyResult]:
    return [x for x in report.remedies if x.id == rid]


def plain_train(
    setup: Setup,
    seed: int,
    factory: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    depth: int | None = None,
) -> torch.nn.Module:
    """The user's recipe as a plain loop: seed, build (at the setup's depth unless told), shuffle each
    epoch, minibatches, step."""
    x, y = setup.train
    torch.manual_seed(seed)
    model = setup.model(setup.depth if depth is None else depth)
    opt = factory(list(model.parameters()))
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(x), generator=gen), 0
    for _ in range(setup.steps):
        if pos >= len(x):
            order, pos = torch.randperm(len(x), generator=gen), 0
        idx = order[pos : pos + setup.batch_size]
        pos += setup.batch_size
        opt.zero_grad()
        setup.loss(model(x[idx]), y[idx]).backward()
        opt.step()
    return model


@torch.no_grad()
def plain_loss(setup: Setup, model: torch.nn.Module, split: str) -> float:
    x, y = getattr(setup, split)
    model.eval()
    return float(setup.loss(model(x), y))


def one_seed(setup: Setup, factory, split: str, depth: int | None = None) -> float:
    return plain_loss(setup, plain_train(setup, setup.seed, factory, depth), split)


def two_seed_mean(setup: Setup, factory, split: str, depth: int | None = None) -> float:
    return (
        sum(
            plain_loss(setup, plain_train(setup, s, factory, depth), split)
            for s in (setup.seed, setup.seed + 1)
        )
        / 2
    )


def seeds_of(best: RemedyResult) -> Callable[..., float]:
    """How the best remedy's before/after were measured: two-seed means when it was confirmed, the first
    seed alone when its change was decisive (wider than DECISIVE noise margins)."""
    if best.data.get("confirmed"):
        return two_seed_mean
    assert best.data.get("decisive") == 1 and best.margin is not None and best.change is not None
    assert -best.change > DECISIVE * best.margin
    return one_seed


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_saddle_point_escapes_with_the_escape_step_and_not_with_momentum(seed: int) -> None:
    report = treat("saddle_point", seed)
    assert report.metric == "train"
    assert report.baseline.train == pytest.approx(1.0, abs=1e-12)  # L(0, 0) = 1
    for rid in ("momentum", "adam"):  # zero gradient at (0, 0): nothing driven by it can move
        (result,) = by_id(report, rid)
        assert result.status == "no_change" and result.after.train == pytest.approx(1.0, abs=1e-12)
    (escape,) = by_id(report, "escape_step")
    assert escape.status == "helps"
    assert escape.after.train is not None and escape.after.train < 1e-3  # the minimum is 0
    assert report.best is not None and not report.nothing_helps
    assert report.recommendation.startswith(("Step along", "A shallower model"))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about a minute on an idle 2-core machine; far more on a shared, loaded one
def test_optimization_issue_top_remedy_is_adam_and_plain_torch_agrees() -> None:
    report = treat("optimization_issue")
    setup = demo_setup("optimization_issue")
    assert report.best is not None and report.best.startswith("adam")
    (adam,) = by_id(report, "adam")
    assert adam.status == "helps" and adam.margin is not None
    # confirmed: two-seed means; decisive (wider than DECISIVE margins): the first seed alone
    mean = seeds_of(adam)
    before = mean(setup, setup.optimizer, "train")
    after = mean(setup, lambda p: torch.optim.Adam(p, lr=1e-3), "train")
    assert adam.before.train == pytest.approx(before, rel=1e-3)
    assert adam.after.train == pytest.approx(after, rel=1e-3)
    assert before - after > adam.margin  # measurably better, in plain torch too


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about a minute on an idle 2-core machine; far more on a shared, loaded one
def test_learning_rate_too_high_top_remedy_helps_in_plain_torch() -> None:
    report = treat("learning_rate_too_high")
    setup = demo_setup("learning_rate_too_high")
    assert report.best is not None
    best = next(x for x in report.remedies if f"{x.id}: {x.setting}" == report.best)
    assert best.status == "helps" and best.margin is not None
    if best.id == "momentum":

        def factory(params):
            opt = setup.optimizer(params)
            for g in opt.param_groups:
                g["momentum"] = 0.9
            return opt

    elif best.id == "adam":
        factory = lambda p: torch.optim.Adam(p, lr=1e-3)  # noqa: E731
    elif best.id == "shallower":
        # which remedy comes out on top depends on the machine (its float arithmetic: adam on CI's,
        # one layer fewer on a 2026-12-02 AMD EPYC; both help by more than the noise); the same claim:
        # the recipe, unchanged but one layer shallower, trains measurably lower in plain torch
        factory = setup.optimizer
        shallower_depth = int(best.setting.split("->")[1])
        assert shallower_depth < setup.depth
    else:
        pytest.fail(f"no plain-torch check written for {best.id}")
    mean = seeds_of(best)
    before = mean(setup, setup.optimizer, "train")
    after = mean(setup, factory, "train", shallower_depth if best.id == "shallower" else None)
    assert best.after.train == pytest.approx(after, rel=1e-3)
    assert before - after > best.margin


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about a minute on an idle 2-core machine; far more on a shared, loaded one
def test_overfitting_held_out_loss_falls_and_plain_torch_agrees() -> None:
    # as `traindoc remedies` runs it: after the diagnosis, sharing its trained model
    setup = demo_setup("overfitting")
    ctx = ProbeContext(setup)
    run_automatic(Session(), ctx)
    report = try_remedies(ctx, list(expected_findings("overfitting")))
    assert report.metric == "val"  # overfitting is judged on data held out from training
    assert report.cost_runs <= 6  # the issue's budget, counted in training runs (exact, unlike seconds)
    # the before curve is a held-out curve like the remedies' (seed 1's: the diagnosis's run has none)
    assert report.baseline_curve_seed == setup.seed + 1
    assert report.baseline_curve and all(p.val is not None for p in report.baseline_curve)
    assert report.best is not None
    best = next(x for x in report.remedies if f"{x.id}: {x.setting}" == report.best)
    assert best.id in ("early_stopping", "weight_decay") and best.status == "helps"
    # confirmed: two-seed means; decisive (wider than DECISIVE margins): the first seed alone
    mean = seeds_of(best)
    before = mean(setup, setup.optimizer, "val")
    assert best.before.val == pytest.approx(before, rel=1e-3)
    if best.id == "weight_decay":
        wd = float(best.setting.split()[-1])
        after = mean(setup, lambda p: torch.optim.Adam(p, lr=3e-3, weight_decay=wd), "val")
        assert best.after.val == pytest.approx(after, rel=1e-3)
        assert before - after > best.margin
    # the test set was never used to choose, and it agrees the remedy is better
    assert best.after.test is not None and best.before.test is not None
    assert best.after.test < best.before.test
    (curve,) = by_id(report, "learning_curve")
    assert curve.data["fractions"] == [0.5, 1.0] and len(curve.data["losses"]) == 2
    assert curve.cost_runs == 1  # one learning-curve point
    advice = {x.id for x in report.remedies if x.status == "not_tried"}
    assert {"augment", "dropout"} <= advice  # the demo's Setup offers no hooks for them


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about a minute on an idle 2-core machine; far more on a shared, loaded one
def test_model_bias_nothing_helps_and_says_so() -> None:
    report = treat("model_bias")
    assert report.nothing_helps and report.best is None
    assert report.recommendation.startswith("Nothing that was tried helped")
    assert all(x.status != "helps" for x in report.remedies)
    # E[h^2] = 1 is out of reach of every model: the baseline is already near it on held-out data
    assert report.baseline.val is not None and report.baseline.val > 0.9
    assert {x.id for x in report.remedies if x.status == "not_tried"} >= {"more_features"}


def test_mismatch_offers_no_training_change_and_shows_the_domain_check() -> None:
    report = treat("mismatch")
    setup = demo_setup("mismatch")
    assert [x.status for x in report.remedies] == ["not_tried"]
    assert report.cost_runs == 0 and report.recommendation.startswith(
        "Training changes cannot fix a mismatch"
    )
    # disjoint supports of x0 (closed form): a threshold on x0 separates them perfectly
    assert float(setup.test[0][:, 0].min()) > float(setup.train[0][:, 0].max())
    assert report.noise["domain_auc"] > 0.95


def test_healthy_needs_nothing() -> None:
    report = treat("healthy")
    assert report.remedies == [] and report.cost_runs == 0
    assert report.recommendation.startswith("Nothing to fix")
    assert not math.isnan(report.seconds)
