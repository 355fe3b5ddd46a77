"""The learning-rate probe: what training records, the decision table, and Adam's preconditioned
sharpness against a closed form."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from probes.base import ProbeError
from probes.context import ProbeContext
from probes.learning_rate import PointSharpness, RunShape, decide, learning_rate_probe, run_shape
from probes.setup import Setup
from probes.stability import StepRule
from probes.training import TrainingRecord, train_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def regression(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen) * torch.tensor([3.0, 1.0, 0.3])
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=gen)


def linear(optimizer, steps: int = 40) -> Setup:
    return Setup(
        model=lambda d: nn.Linear(3, 1),
        depth=0,
        train=regression(),
        loss=nn.MSELoss(),
        optimizer=optimizer,
        steps=steps,
        batch_size=256,
    )


def closed_form_hessian(x: torch.Tensor) -> torch.Tensor:
    design = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    return 2 * design.T @ design / len(design)  # parameters ordered as (weight, bias)


# -- what training records ---------------------------------------------------------------------------


def test_the_record_keeps_initialization_and_the_last_sane_point_before_a_blow_up():
    limit = 2 / float(torch.linalg.eigvalsh(closed_form_hessian(regression()[0]))[-1])
    setup = linear(lambda p: torch.optim.SGD(p, lr=3 * limit), steps=200)
    record = TrainingRecord()
    with pytest.raises(Exception, match="turned"):
        train_model(setup, record=record)
    torch.manual_seed(setup.seed)
    fresh = nn.Linear(3, 1)
    assert torch.equal(record.initial.parameters["weight"], fresh.weight.detach())
    assert record.trouble_step is not None and record.last_sane.step < record.trouble_step
    assert math.isfinite(record.last_sane.loss) and not record.finished
    losses = record.step_losses
    assert losses[record.trouble_step] >= 3 * min(losses[: record.trouble_step])
    assert run_shape(record).diverged


def test_a_clean_run_keeps_its_latest_snapshot():
    record = TrainingRecord()
    train_model(linear(lambda p: torch.optim.SGD(p, lr=0.01), steps=100), record=record)
    assert record.trouble_step is None and record.finished
    assert record.last_sane.step == 98  # snapshots every 2 steps (100 // 50)
    assert record.last_sane.optimizer_state is not None and record.initial.optimizer_state is None


# -- the decision, exhaustively over its finite inputs -------------------------------------------------


def point(where: str, exceeds: bool | None) -> PointSharpness:
    return PointSharpness(where, 0, 1.0, 10.0, exceeds is not None, exceeds=exceeds)


@pytest.mark.parametrize(
    ("optimizer", "first", "second", "troubled"),
    list(
        itertools.product(("SGD", "Adam", "LBFGS"), (True, False, None), (True, False, None), (True, False))
    ),
)
def test_decision_table(optimizer, first, second, troubled):
    rule = StepRule(optimizer, 0.1)
    shape = RunShape(diverged=troubled, spiked=False, plateaued=not troubled)
    answer, rules = decide([point("initialization", first), point("end of training", second)], rule, shape)
    over = True in (first, second)
    # above the limit: proof (a Ritz value bounds lambda_max from below) when the run spiked or
    # diverged, or for SGD when it is above after initialization too
    if over and (troubled or (optimizer == "SGD" and second is True)):
        assert answer == "yes"
    elif first is False and second is False:
        assert answer == "no"  # within at every measured, converged point
    else:
        assert answer == "unsure"
    if over and answer == "unsure":
        # said, not judged: Adam at its edge, or SGD that left a sharp start (catapult)
        assert ("edge" in rules[-1]) if optimizer != "SGD" else ("catapult" in rules[-1])


# -- Adam: the preconditioned sharpness ----------------------------------------------------------------


def test_adam_preconditioned_sharpness_matches_the_closed_form():
    lr = 0.05
    setup = linear(lambda p: torch.optim.Adam(p, lr=lr), steps=40)
    ctx = ProbeContext(setup)
    outcome = learning_rate_probe(ctx)
    record = ctx.record()
    snapshot = record.last_sane
    # independent: the Hessian of a linear model under MSE in closed form, and Adam's own state
    # (torch's optimizer, not traindoc) -> P = sqrt(v / (1 - beta2^t)) + eps, spectrum of
    # P^-1/2 H P^-1/2 in float64
    state = snapshot.optimizer_state["state"]
    v = torch.cat([state[0]["exp_avg_sq"].reshape(-1), state[1]["exp_avg_sq"].reshape(-1)]).double()
    t = float(state[0]["step"])
    p = torch.sqrt(v / (1 - 0.999**t)) + 1e-8
    d = torch.diag(p.rsqrt())
    truth = float(torch.linalg.eigvalsh(d @ closed_form_hessian(setup.train[0]) @ d)[-1])
    last = outcome.data["points"][-1]
    assert last["preconditioned"] == pytest.approx(truth, rel=1e-3)
    assert last["threshold"] == pytest.approx(38 / lr)  # (2 + 2 x 0.9) / (0.1 x lr)
    assert last["exceeds"] == (truth > 38 / lr)
    first = outcome.data["points"][0]
    assert first["preconditioned"] is None and "no optimizer state" in first["note"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("samples", 0, "samples must be at least 1"), ("max_hvp", 1, "max_hvp must be at least 2"),
     ("tolerance", 0.0, "tolerance must be positive")],
)  # fmt: skip
def test_bad_options_are_one_line_before_any_training(option, value, message):
    ctx = ProbeContext(linear(lambda p: torch.optim.SGD(p, lr=0.01)))
    with pytest.raises(ProbeError, match=message) as info:
        learning_rate_probe(ctx, **{option: value})
    assert info.value.field == option and ctx.trainings == 0
