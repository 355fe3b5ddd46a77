"""One trial: the user's recipe (model, loss, optimizer, data, steps, seed) with one thing changed.

Mirrors `probes.training.train_model` step for step (same seeding, same batch stream), so a trial
that changes nothing reproduces the user's run, and every difference a trial shows comes from the
one change it makes. Trials may run in threads: building the model (which draws from torch's global
generator) happens under a lock so each trial's initialisation stays the seeded one.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from probes.base import ProbeCancelled, ProbeError, ProbeProgress, ProgressCallback, StopCheck
from probes.remedies.result import CurvePoint, Losses
from probes.setup import DataLike, Setup, batches, resolve_device
from probes.training import build_model, compute_loss, evaluate_loss

_BUILD_LOCK = threading.Lock()
DIVERGED_FACTOR = 4.0  # the range test stops once the loss exceeds 4x its lowest (Smith 2017; fastai)
TRACK_SAMPLES = 512  # the fixed sample the range test's loss is measured on after each step

Schedule = Callable[[int], float]  # step -> learning-rate multiplier (or absolute rate, see Variant)


@dataclass
class Variant:
    """What a trial changes. Every field left at its default keeps the user's choice."""

    label: str
    depth: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)  # model(depth, **options): a Setup hook
    optimizer: Callable[[Any], torch.optim.Optimizer] | None = None
    lr: float | None = None  # overrides the learning rate of every parameter group
    weight_decay: float | None = None
    lr_at: Schedule | None = None  # step -> multiplier of the trial's learning rate (warm-up)
    absolute_lr_at: Schedule | None = None  # step -> learning rate itself (the range test)
    steps: int | None = None
    train: DataLike | None = None  # a subset of the training data (the learning curve)
    augment: bool = False  # apply Setup.augment to every training batch
    start: nn.Module | None = None  # continue from these weights instead of a fresh initialisation
    perturb: Callable[[nn.Module], None] | None = None  # applied to the start weights (escape step)
    stop_on_divergence: bool = False  # the range test ends when the loss blows up: data, not an error
    # the range test: the loss on this fixed sample after every step (a minibatch's loss is too noisy to
    # read a slope from in a short sweep)
    track: DataLike | None = None
    seed: int | None = None


@dataclass
class TrialRun:
    model: nn.Module
    step_losses: list[float]
    curve: list[CurvePoint]
    seconds: float
    steps: int
    diverged: str | None = None  # why, when the loss turned NaN/inf
    best_step: int | None = None  # the step with the lowest held-out loss on the curve
    best_state: dict[str, torch.Tensor] | None = None  # the weights at that step
    lrs: list[float] = field(default_factory=list)
    track_losses: list[float] = field(default_factory=list)  # with Variant.track: after each step


def _build(setup: Setup, v: Variant, depth: int, device: torch.device, seed: int) -> nn.Module:
    if v.start is not None:
        model = copy.deepcopy(v.start).to(device)
    elif v.model_options:
        try:
            model = setup.model(depth, **v.model_options)
        except Exception as exc:
            raise ProbeError(
                f"Setup.model({depth}, **{v.model_options}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(model, nn.Module):
            raise ProbeError(f"Setup.model returned {type(model).__name__}, expected torch.nn.Module")
        model = model.to(device)
    else:
        model = build_model(setup, depth, device)
    if v.perturb is not None:
        with torch.no_grad():
            v.perturb(model)
    return model


def run_trial(
    setup: Setup,
    v: Variant,
    *,
    held_out: DataLike | None = None,
    record_every: int | None = None,
    progress: ProgressCallback,
    should_stop: StopCheck,
    series: str,
) -> TrialRun:
    """Train one variant; record the minibatch loss every step and the held-out loss on a curve."""
    depth = setup.depth if v.depth is None else v.depth
    seed = setup.seed if v.seed is None else v.seed
    steps = setup.steps if v.steps is None else v.steps
    device = resolve_device(setup.device)
    with _BUILD_LOCK:
        torch.manual_seed(seed)
        model = _build(setup, v, depth, device, seed)
        try:
            opt = (v.optimizer or setup.optimizer)(model.parameters())
        except Exception as exc:
            raise ProbeError(f"the optimizer failed: {type(exc).__name__}: {exc}") from exc
    for group in opt.param_groups:
        if v.lr is not None:
            group["lr"] = v.lr
        if v.weight_decay is not None:
            group["weight_decay"] = v.weight_decay
    base_lrs = [float(g.get("lr", 0.0)) for g in opt.param_groups]
    gen = torch.Generator().manual_seed(seed)
    stream = batches(setup.train if v.train is None else v.train, setup.batch_size, gen)
    every = record_every or max(1, steps // 25)
    run = TrialRun(model=model, step_losses=[], curve=[], seconds=0.0, steps=0)
    best = math.inf
    started = time.perf_counter()
    model.train()
    for step in range(steps):
        if should_stop():
            raise ProbeCancelled("remedies")
        if v.absolute_lr_at is not None or v.lr_at is not None:
            for group, base in zip(opt.param_groups, base_lrs, strict=True):
                group["lr"] = v.absolute_lr_at(step) if v.absolute_lr_at else base * v.lr_at(step)  # type: ignore[misc]  # lr_at is set whenever absolute_lr_at is not (the test above)
        run.lrs.append(float(opt.param_groups[0].get("lr", 0.0)))
        xb, yb = next(stream)
        xb, yb = xb.to(device), yb.to(device)
        if v.augment and setup.augment is not None:
            xb, yb = setup.augment(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss = compute_loss(setup, model, xb, yb)
        value = float(loss.detach())
        if not math.isfinite(value):
            run.diverged = f"the training loss turned {value} at step {step}"
            break
        loss.backward()
        opt.step()
        run.step_losses.append(value)
        run.steps = step + 1
        if v.track is not None:
            tracked = evaluate_loss(setup, model, v.track, max_samples=TRACK_SAMPLES)
            run.track_losses.append(tracked if math.isfinite(tracked) else math.inf)
            blown = not math.isfinite(tracked) or tracked > DIVERGED_FACTOR * min(run.track_losses)
            if v.stop_on_divergence and len(run.track_losses) > 5 and blown:
                break
        if held_out is not None and (step % every == every - 1 or step == steps - 1):
            val = evaluate_loss(setup, model, held_out, what="validation")
            run.curve.append(CurvePoint(step=step + 1, train=value, val=val))
            if val < best:
                best, run.best_step = val, step + 1
                run.best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            progress(
                ProbeProgress(
                    probe="remedies",
                    done=step + 1,
                    total=steps,
                    message=f"{series}: step {step + 1}/{steps}",
                    estimate={"loss": value},
                    series=series,
                )
            )
        stop = v.stop_on_divergence and v.track is None and len(run.step_losses) > 10
        if stop and value > DIVERGED_FACTOR * min(run.step_losses):
            break
    run.seconds = time.perf_counter() - started
    if run.diverged and not v.stop_on_divergence:
        return run
    return run


def losses_of(setup: Setup, model: nn.Module, train: DataLike, val: DataLike | None) -> Losses:
    """The judged losses, with the same `evaluate_loss` the diagnosis uses."""

    def safe(data: DataLike | None, what: str) -> float | None:
        if data is None:
            return None
        value = evaluate_loss(setup, model, data, what=what)
        return value if math.isfinite(value) else None

    return Losses(train=safe(train, "train"), val=safe(val, "validation"), test=safe(setup.test, "test"))


def with_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of `model` holding `state` (the early-stopping checkpoint)."""
    clone = copy.deepcopy(model)
    clone.load_state_dict(state)
    return clone
