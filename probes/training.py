"""Run the user's recipe: build the model at a depth, train it with their loss and optimizer, seeded."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from probes.base import (
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProgressCallback,
    SetupMismatch,
    StopCheck,
    TrainingDiverged,
    never_stop,
    no_progress,
)
from probes.setup import DataLike, Setup, batches, resolve_device, tensors


@dataclass
class TrainedModel:
    """A model trained with the user's recipe, and what was seen on the way."""

    model: nn.Module
    depth: int
    seed: int
    device: torch.device
    step_losses: list[float]
    final_train_loss: float  # over the whole training set (or `eval_samples`), eval mode
    learning_rate: float | None
    seconds: float
    parameters: int
    history: dict[str, list[float]] = field(default_factory=dict)


# A step loss this many times the lowest one so far (and at or above the starting loss) is trouble:
# the same spike rule as the history reader's (probes/history/_curves.spikes).
SPIKE_FACTOR = 3.0
# Parameter snapshots are taken about this many times per run (each a copy of the parameters and
# the optimizer state, kept two at a time: the cost stays that of two extra models in memory).
SNAPSHOTS_PER_RUN = 50


@dataclass
class Snapshot:
    """The parameters (and optimizer state) BEFORE the update of `step`, whose loss was `loss`."""

    step: int
    loss: float
    parameters: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None


@dataclass
class TrainingRecord:
    """What a training run leaves for the learning-rate check, even when the run blows up.

    `initial` is the model at initialization; `last_sane` the latest snapshot taken before the first
    sign of trouble (a NaN/inf loss or a spike back to the starting loss and 3x the lowest so far), or
    the latest snapshot of the run when there was none. `optimizer` is the optimizer used (its
    hyper-parameters: class, lr, momentum, betas, eps), kept for the stability rule.
    """

    step_losses: list[float] = field(default_factory=list)
    initial: Snapshot | None = None
    last_sane: Snapshot | None = None
    trouble_step: int | None = None  # first NaN/inf or spike
    trouble: str | None = None
    start: float | None = None  # the first finite step loss
    lowest: float | None = None  # the lowest finite step loss so far
    optimizer: torch.optim.Optimizer | None = None
    optimizer_names: list[str | None] = field(default_factory=list)  # parameter name per state index
    finished: bool = False

    def observe(
        self, step: int, loss: float, model: nn.Module, opt: torch.optim.Optimizer, every: int
    ) -> None:
        """Called with each step's loss before the update: snapshot while the run is sane."""
        if self.trouble_step is None:
            start, lowest = self.start, self.lowest
            if not math.isfinite(loss):
                self.trouble_step, self.trouble = step, f"the loss turned {loss} at step {step}"
            elif (
                start is not None
                and lowest is not None
                and loss >= start
                and loss > lowest
                and loss >= SPIKE_FACTOR * lowest
            ):
                self.trouble_step = step
                self.trouble = (
                    f"the loss jumped to {loss:.4g} at step {step}, above its start {start:.4g} "
                    f"and {loss / lowest:.1f}x its lowest {lowest:.4g}"
                )
            if math.isfinite(loss):  # running figures: O(1) per step
                self.start = loss if self.start is None else self.start
                self.lowest = loss if self.lowest is None else min(self.lowest, loss)
        # every `every` steps, and at steps 1, 2, 4, ... before that: instability often shows in
        # the first few steps, and Adam's state needs one step to exist
        early = step < every and step & (step - 1) == 0
        if self.trouble_step is None and (early or step % every == 0):
            snap = Snapshot(
                step=step,
                loss=loss,
                parameters={k: v.detach().clone() for k, v in model.state_dict().items()},
                optimizer_state=copy.deepcopy(opt.state_dict()) if step else None,
            )
            if step == 0:
                self.initial = snap
            self.last_sane = snap
        if self.optimizer is not opt:
            self.optimizer = opt
            names = {id(p): n for n, p in model.named_parameters()}
            self.optimizer_names = [names.get(id(p)) for g in opt.param_groups for p in g["params"]]


def build_model(setup: Setup, depth: int, device: torch.device) -> nn.Module:
    try:
        model = setup.model(depth)
    except Exception as exc:
        raise ProbeError(f"Setup.model({depth}) failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ProbeError(f"Setup.model({depth}) returned {type(model).__name__}, expected torch.nn.Module")
    return model.to(device)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def checked_loss(
    forward: Callable[[torch.Tensor], torch.Tensor],
    loss_fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """`loss_fn(forward(x), y)`, with shape and type problems turned into one-line ProbeErrors."""
    try:
        out = forward(x)
    except Exception as exc:
        raise SetupMismatch(
            f"model forward failed on inputs of shape {tuple(x.shape)}: {one_line(exc)}"
        ) from exc
    try:
        loss = loss_fn(out, y)
    except Exception as exc:
        raise SetupMismatch(
            f"loss failed on outputs {tuple(out.shape)} and targets {tuple(y.shape)}: {one_line(exc)}"
        ) from exc
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise SetupMismatch("the loss must return a scalar tensor (use reduction='mean')")
    return loss


def compute_loss(setup: Setup, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The user's loss on one batch."""
    return checked_loss(model, setup.loss, x, y)


def _learning_rate(opt: torch.optim.Optimizer) -> float | None:
    try:
        lr = opt.param_groups[0].get("lr")
        return float(lr) if lr is not None else None
    except (IndexError, TypeError, ValueError):
        return None


@torch.no_grad()
def evaluate_loss(
    setup: Setup,
    model: nn.Module,
    data: DataLike,
    *,
    max_samples: int | None = 8192,
    batch_size: int = 1024,
    what: str = "train",
) -> float:
    """Mean loss over `data` in eval mode (sample-weighted over batches)."""
    device = next(model.parameters()).device
    x, y = tensors(data, max_samples, what)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            total += float(compute_loss(setup, model, xb, yb)) * len(xb)
            count += len(xb)
    finally:
        model.train(was_training)
    return total / max(count, 1)


def train_model(
    setup: Setup,
    depth: int | None = None,
    *,
    seed: int | None = None,
    steps: int | None = None,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    series: str | None = None,
    eval_samples: int | None = 8192,
    record: TrainingRecord | None = None,
) -> TrainedModel:
    """Train `setup.model(depth)` with the user's loss, optimizer, steps and batch size.

    With `record`, the step losses and parameter snapshots (at initialization and the last sane
    point) are kept there as training goes, so they survive a TrainingDiverged.
    """
    depth = setup.depth if depth is None else depth
    seed = setup.seed if seed is None else seed
    steps = setup.steps if steps is None else steps
    device = resolve_device(setup.device)
    torch.manual_seed(seed)
    model = build_model(setup, depth, device)
    try:
        opt = setup.optimizer(model.parameters())
    except Exception as exc:
        raise ProbeError(f"Setup.optimizer failed: {type(exc).__name__}: {exc}") from exc
    gen = torch.Generator().manual_seed(seed)
    stream = batches(setup.train, setup.batch_size, gen)
    losses: list[float] = []
    started = time.perf_counter()
    report_every = max(1, steps // 50)
    model.train()
    for step in range(steps):
        if should_stop():
            raise ProbeCancelled("training")
        xb, yb = next(stream)
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad(set_to_none=True)
        loss = compute_loss(setup, model, xb, yb)
        value = float(loss.detach())
        if record is not None:
            record.observe(step, value, model, opt, max(1, steps // SNAPSHOTS_PER_RUN))
            record.step_losses.append(value)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss turned {value} at step {step} (depth {depth}, seed {seed})"
            )
        loss.backward()
        opt.step()
        losses.append(value)
        if step % report_every == 0 or step == steps - 1:
            progress(
                ProbeProgress(
                    probe="training",
                    done=step + 1,
                    total=steps,
                    message=f"depth {depth} step {step + 1}/{steps}",
                    estimate={"loss": value},
                    series=series or f"depth {depth}",
                )
            )
    final = evaluate_loss(setup, model, setup.train, max_samples=eval_samples)
    if not math.isfinite(final):
        raise TrainingDiverged(f"the training loss of the trained model is {final} (depth {depth})")
    n_params = sum(p.numel() for p in model.parameters())
    if record is not None:
        record.finished = True
    return TrainedModel(
        model=model,
        depth=depth,
        seed=seed,
        device=device,
        step_losses=losses,
        final_train_loss=final,
        learning_rate=_learning_rate(opt),
        seconds=time.perf_counter() - started,
        parameters=n_params,
    )
