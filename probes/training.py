"""Run the user's recipe: build the model at a depth, train it with their loss and optimizer, seeded."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from probes.base import (
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProgressCallback,
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
        raise ProbeError(
            f"model forward failed on inputs of shape {tuple(x.shape)}: {one_line(exc)}"
        ) from exc
    try:
        loss = loss_fn(out, y)
    except Exception as exc:
        raise ProbeError(
            f"loss failed on outputs {tuple(out.shape)} and targets {tuple(y.shape)}: {one_line(exc)}"
        ) from exc
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise ProbeError("the loss must return a scalar tensor (use reduction='mean')")
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
) -> TrainedModel:
    """Train `setup.model(depth)` with the user's loss, optimizer, steps and batch size."""
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
