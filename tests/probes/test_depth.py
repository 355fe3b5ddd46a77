"""The depth probe: the decision rules on numbers (table-driven) and the ladder on real training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from probes.base import ProbeError, ProbeProgress
from probes.context import ProbeContext
from probes.demos import demo_setup, mlp
from probes.depth import Rung, decide, default_ladder, depth_probe, parse_depths, t95
from probes.setup import Setup

# tiny models train faster on one thread than on two contended ones
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rung(depth: int, *losses: float, diverged: tuple[int, ...] = ()) -> Rung:
    return Rung(
        depth, seeds=list(range(len(losses) + len(diverged))), losses=list(losses), diverged=list(diverged)
    )


# -- the rules on numbers -------------------------------------------------------------------------------


def test_t_quantiles_shrink_to_the_normal_one():
    assert t95(1) == pytest.approx(6.314)
    assert t95(2) > t95(5) > t95(30) > t95(1000) == 1.645
    assert t95(11) == t95(10)  # between table rows: the safer (larger) one
    assert math.isinf(t95(0))


def test_the_lectures_ladder():
    # 1-4 layers reach 0.28k, 0.18k, 0.14k, 0.10k; 5 layers reach 0.34k
    losses = {1: 0.28, 2: 0.18, 3: 0.14, 4: 0.10, 5: 0.34}
    rungs = [rung(d, v - 0.005, v + 0.005) for d, v in losses.items()]
    at_five = decide(rungs, 5, None, trivial=1.0)
    assert at_five.deeper_model_worse == "yes"
    assert at_five.comparison is not None and at_five.comparison.better == 4
    assert at_five.comparison.sureness == "clear"
    at_four = decide(rungs[:4], 4, None, trivial=1.0)
    assert at_four.deeper_model_worse == "no"
    assert (5, 4) in at_five.other_worse_pairs


@pytest.mark.parametrize(
    ("shallow", "deep", "expected", "sureness"),
    [
        ((0.10, 0.11), (0.50, 0.52), "yes", "clear"),
        ((0.10, 0.11), (0.105, 0.112), "no", "clear"),  # equal within noise
        ((0.10, 0.40), (0.30, 0.60), "no", "marginal"),  # worse on average, but seeds disagree widely
        ((0.100, 0.101), (0.106, 0.107), "no", "marginal"),  # beyond seed noise, but under the 10% floor
        ((0.100, 0.101), (0.125, 0.126), "yes", "clear"),  # 25% worse, quiet seeds
        ((0.100, 0.101), (0.115, 0.116), "yes", "marginal"),  # 15% worse: past the margin, not twice it
    ],
)
def test_deeper_worse_needs_more_than_noise_and_the_floor(shallow, deep, expected, sureness):
    d = decide([rung(1, *shallow), rung(3, *deep)], 3, None, trivial=1.0)
    assert (d.deeper_model_worse, d.comparison.sureness) == (expected, sureness)
    assert any("margin" in r for r in d.rules)


def test_a_deeper_variant_that_blows_up_is_worse():
    d = decide([rung(1, 0.2, 0.21), rung(4, diverged=(0, 1))], 4, None, trivial=1.0)
    assert d.deeper_model_worse == "yes"
    assert "diverged" in " ".join(d.rules)


def test_at_the_shallowest_depth_deeper_variants_are_compared_with_yours():
    worse = decide([rung(0, 0.2, 0.21), rung(1, 0.6, 0.61)], 0, None, trivial=1.0)
    better = decide([rung(0, 0.6, 0.61), rung(1, 0.2, 0.21)], 0, None, trivial=1.0)
    assert (worse.deeper_model_worse, better.deeper_model_worse) == ("yes", "no")


def test_one_depth_or_one_seed():
    assert decide([rung(2, 0.3, 0.31)], 2, None, 1.0).deeper_model_worse == "unsure"
    single = decide([rung(1, 0.1), rung(2, 0.5)], 2, None, 1.0)
    assert single.noise.df == 0 and single.deeper_model_worse == "yes"
    assert "not measured" in single.rules[0]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (0.01, "yes"),
        # better than YOUR depth (0.255) by 26%, though not better than depth 1 (0.205): the
        # question is about your model, so yes (it used to be compared with the best depth: "no")
        (0.19, "yes"),
        (0.24, "no"),  # within 10% of yours
        (0.5, "no"),
        (None, "unsure"),
    ],
)
def test_simple_model_better_than_yours(reference, expected):
    d = decide([rung(1, 0.20, 0.21), rung(2, 0.25, 0.26)], 2, reference, trivial=1.0)
    assert d.simple_model_better == expected
    if reference is not None:
        assert d.reference_comparison["user_depth"] == 2


def test_simple_model_better_unsure_when_your_runs_disagree():
    # mean 0.35 vs reference 0.2: beyond the floor, but one run comes within it and two seeds
    # spread this widely give a margin (t95(1) x sd / sqrt 2) far above the difference
    d = decide([rung(1, 0.3, 0.31), rung(2, 0.21, 0.49)], 2, 0.2, trivial=1.0)
    assert d.simple_model_better == "unsure"
    # every run of your recipe above the reference by more than the floor: yes even though the
    # seeds spread widely (the oscillation is the symptom, not noise hiding a difference)
    d = decide([rung(1, 0.3, 0.31), rung(2, 0.9, 1.36)], 2, 0.48, trivial=1.0)
    assert d.simple_model_better == "yes"
    assert "every one of your 2 runs" in d.rules[-1]


def test_a_blown_up_or_noisy_third_rung_does_not_widen_the_margin():
    # depth 2 is 40% worse than depth 1 with quiet seeds; depth 3 is wildly noisy. Pooled over every
    # rung the margin was t95(3) x 0.35 x sqrt(1/2 + 1/2) = 0.8 and hid the difference; the noise
    # of the two rungs compared (sd 0.007) gives a margin of the 10% floor, 0.02.
    rungs = [rung(1, 0.20, 0.21), rung(2, 0.28, 0.29), rung(3, 0.2, 1.2)]
    d = decide(rungs, 2, None, trivial=1.0)
    assert d.deeper_model_worse == "yes"
    assert d.comparison.margin == pytest.approx(max(t95(2) * 0.00707 * 1.0, 0.0205), rel=0.02)


def test_variants_that_are_one_model_are_unsure_with_the_fix():
    same = [rung(1, 0.5, 0.51), rung(2, 0.5, 0.52)]
    for r in same:
        r.shapes = [(16, 2), (16,), (1, 16), (1,)]
    d = decide(same, 2, None, trivial=1.0)
    assert d.deeper_model_worse == "unsure"
    assert any("ignores its depth" in r and "Fix the setup" in r for r in d.rules)
    same[1].shapes = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
    assert decide(same, 2, None, trivial=1.0).deeper_model_worse == "no"


def test_parse_depths():
    assert parse_depths("1, 2,4") == [1, 2, 4]
    assert parse_depths([3, 1]) == [3, 1]
    assert parse_depths(None) is None
    with pytest.raises(ProbeError, match="comma-separated"):
        parse_depths("a,b")
    with pytest.raises(ProbeError, match="non-negative"):
        parse_depths("-1,2")


# -- the ladder on real training --------------------------------------------------------------------


def small_setup(depth: int = 2, **extra) -> Setup:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(256, 2, generator=gen)
    y = torch.sin(2 * x[:, :1]) + x[:, 1:] ** 2
    fields = {
        "model": lambda d: mlp(2, 1, 16, d),
        "depth": depth,
        "train": (x, y),
        "loss": nn.MSELoss(),
        "optimizer": lambda p: torch.optim.Adam(p, lr=1e-2),
        "steps": 60,
    }
    return Setup(**{**fields, **extra})


def test_default_ladder():
    assert default_ladder(small_setup(0)) == [0, 1]
    assert default_ladder(small_setup(1)) == [0, 1]
    assert default_ladder(small_setup(6)) == [1, 6]

    def no_linear(d: int) -> nn.Module:
        if d == 0:
            raise ValueError("needs at least one hidden layer")
        return mlp(2, 1, 8, d)

    assert default_ladder(small_setup(1).model_copy(update={"model": no_linear})) == [1, 2]

    def at_least_three(d: int) -> nn.Module:
        if d < 3:
            raise ValueError("the stem alone has three layers")
        return mlp(2, 1, 8, d)

    assert default_ladder(small_setup(6).model_copy(update={"model": at_least_three})) == [3, 6]


def test_probe_trains_each_variant_once_and_reuses_the_users_model():
    events: list[ProbeProgress] = []
    ctx = ProbeContext(small_setup(3), progress=events.append)
    users = ctx.trained()
    outcome = depth_probe(ctx)
    assert ctx.trainings == 4  # depths 1 and 3, two seeds each; (3, seed 0) was already trained
    assert ctx.trained() is users
    ladder = outcome.data["ladder"]
    assert [r["depth"] for r in ladder] == [1, 3]
    assert all(len(r["losses"]) == 2 for r in ladder)
    assert outcome.answers["deeper_model_worse"] in ("yes", "no")
    assert outcome.data["table"][0].startswith("depth |")
    series = {e.series for e in events if e.probe == "depth"}
    assert series == {"depth 1", "depth 3"}
    assert {e.series for e in events if e.probe == "training"} >= {"depth 1", "depth 3"}


def test_options_and_a_depth_that_cannot_be_built():
    def capped(d: int) -> nn.Module:
        if d > 3:
            raise ValueError("too deep for this block")
        return mlp(2, 1, 8, d)

    ctx = ProbeContext(small_setup(2, model=capped))
    outcome = depth_probe(ctx, depths="1,2,5", seeds=1)
    assert any("depth 5 left out" in w for w in outcome.warnings)
    assert any("one seed" in w for w in outcome.warnings)
    assert ctx.trainings == 2
    with pytest.raises(ProbeError, match="seeds"):
        depth_probe(ctx, seeds=0)


def test_setup_depths_is_the_ladder_when_no_option_is_given():
    ctx = ProbeContext(small_setup(2, depths=[0, 2]))
    outcome = depth_probe(ctx, seeds=1)
    assert [r["depth"] for r in outcome.data["ladder"]] == [0, 2]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_plain_network_is_worse_for_every_seed(seed):
    outcome = depth_probe(ProbeContext(demo_setup("optimization_issue", seed)))
    assert outcome.answers == {"deeper_model_worse": "yes", "simple_model_better": "no"}
    assert outcome.data["comparison"]["sureness"] == "clear"


def test_a_deeper_variant_whose_training_blows_up_counts_as_worse():
    def exploding(d: int) -> nn.Module:
        net = mlp(2, 1, 8, d)
        if d >= 3:  # a deeper block with a badly scaled output layer: the loss overflows to inf
            with torch.no_grad():
                net[-1].weight.mul_(1e30)
        return net

    ctx = ProbeContext(small_setup(1, model=exploding))
    outcome = depth_probe(ctx, depths="1,3")
    deep = next(r for r in outcome.data["ladder"] if r["depth"] == 3)
    assert deep["diverged"] == [0, 1] and deep["mean"] is None
    assert outcome.answers["deeper_model_worse"] == "yes"
    assert any("blew up" in w for w in outcome.warnings)


def test_a_model_builder_that_ignores_depth_is_flagged():
    # the factory returns the 2-hidden-layer net whatever depth it is asked for: the ladder compares
    # the model with itself (different seeds), so it cannot tell model bias from optimization
    ctx = ProbeContext(small_setup(2, model=lambda d: mlp(2, 1, 16, 2)))
    outcome = depth_probe(ctx, seeds=1)
    assert outcome.answers["deeper_model_worse"] == "unsure"
    assert any("ignores its depth" in w and "Fix the setup" in w for w in outcome.warnings)
    assert "same model" in outcome.summary


def test_different_architectures_are_not_called_the_same_model():
    def model(d: int) -> nn.Module:
        if d == 1:
            return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))  # 33 parameters
        return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))  # 31

    ctx = ProbeContext(small_setup(2, model=model))
    outcome = depth_probe(ctx, seeds=1, depths="1,2")
    assert not any("ignores its depth" in w for w in outcome.warnings)
    assert outcome.answers["deeper_model_worse"] in ("yes", "no")
