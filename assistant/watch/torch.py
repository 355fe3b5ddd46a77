"""Plain PyTorch: one `with` around the training loop.

    with watch(model, optimizer, loss_fn, held_batch=(x_val, y_val)) as run:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            run.step(loss)                       # the step counter advances by itself
        run.eval(val_loss)                       # whenever you evaluate
    run.report.findings                          # also in run.output_dir/report.md

`run.step` reads the learning rate from the optimizer and the gradient norm from the parameters'
`.grad` (when they are still set: call it before `zero_grad`). Without `held_batch`, the first
`batch=` given to `run.step` is held (a copy) for the curvature measurements.

The points are fed in batches of `sync_every` steps (16): a loss on an accelerator is kept detached
and the batch is read in one transfer (`.item()` at every step would wait for the device each time);
on the CPU each loss is read at once, but the history still takes the batch in one call and the
flowchart's warnings are checked once per batch (per point, this bookkeeping was the largest part of
the watch's cost on a small model: docs/watch.md). Every point and alert names its own step; a NaN
or divergence warning is printed at most `sync_every` - 1 steps after it happened. A batch also ends
at every multiple of `curvature_every`, so a fixed cadence measures at its own steps. `sync_every=1`
feeds every step at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import nn

from assistant.watch._run import Emit, Run, log_emit
from probes.history._models import Split
from probes.live import Alert

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_clock = time.perf_counter


def copy_batch(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.detach().clone()
    if isinstance(batch, (list, tuple)):
        return type(batch)(copy_batch(b) for b in batch)
    if isinstance(batch, dict):
        return {k: copy_batch(v) for k, v in batch.items()}
    return batch


def grad_norm_of(model: nn.Module) -> float | None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return None
    if len({(g.device, g.dtype) for g in grads}) == 1:
        # one fused kernel over all gradients and one sync: get_total_norm does the same with ~2x the
        # Python around it (grouping by device and dtype, foreach checks), measured on the benchmark MLP
        return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
    return float(torch.nn.utils.get_total_norm(grads))


class TorchRun(Run):
    """A `Run` that counts steps itself and is a context manager (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None,
        loss_fn: LossFn | None,
        *,
        grad_norm_every: int = 50,
        **kwargs: Any,
    ) -> None:
        self.loss_fn = loss_fn
        # the norm syncs with the device and reads every gradient: every few steps is enough for the
        # history (the overhead benchmark measured ~8% of a small MLP's step when taken at every step,
        # ~1% at every 10th; every 50th: 80 points over the benchmark's 4,000 steps)
        self.grad_norm_every = grad_norm_every
        super().__init__(
            model,
            optimizer,
            loss_of=self._loss_of if loss_fn is not None else kwargs.pop("loss_of", None),
            **kwargs,
        )
        self.steps = 0
        self.report: Any = None

    def _loss_of(self, model: nn.Module, batch: Any) -> torch.Tensor:
        assert self.loss_fn is not None
        x, y = batch
        return self.loss_fn(model(x), y)

    def step(
        self,
        loss: float | torch.Tensor,
        *,
        batch: Any = None,
        grad_norm: float | None = None,
        epoch: float | None = None,
    ) -> list[Alert]:
        """One optimizer step done with this training loss (fed with the next batch of steps)."""
        t0 = _clock()  # the step's own time counts from here (added up below or by Run._queue)
        self.steps = steps = self.steps + 1
        # most steps: a scalar loss on the CPU, read at once, the learning rate, appended to the
        # batch, which this step neither fills nor ends (no gradient norm, no curvature step).
        # Inside a training loop every operation here runs with cold caches (the step in between
        # evicts them), at ~10x its cost in a tight loop: the fewest operations (docs/watch.md)
        if (
            steps < self._plain_until
            and grad_norm is None
            and epoch is None
            and (batch is None or self.held_batch is not None)
        ):
            value: float | torch.Tensor | None = None
            try:
                if loss.is_cpu:  # type: ignore[union-attr]
                    value = loss.item()  # type: ignore[union-attr]
                elif loss.numel() == 1:  # type: ignore[union-attr]
                    value = loss.detach()  # type: ignore[union-attr]  # read with the batch, one transfer
                    self._on_device = True
            except (AttributeError, RuntimeError):  # a float, or more than one element
                value = None
            if value is not None:
                lr = float(self.optimizer.param_groups[0]["lr"])  # type: ignore[union-attr]
                self._queued.append((steps, value, lr, None))
                self.own_seconds += _clock() - t0
                return []
        if batch is not None and self.held_batch is None:
            self.hold(copy_batch(batch))
        if grad_norm is None and steps % self.grad_norm_every == 0 and self.model is not None:
            grad_norm = grad_norm_of(self.model)
        new = self._queue(t0, steps, loss, None, grad_norm, epoch)
        t1 = _clock()
        self._plain_until = self._next_special(steps)
        self.own_seconds += _clock() - t1
        return new

    def _next_special(self, steps: int) -> int:
        """The next step that needs the whole of `_queue`: the one that fills the batch, a gradient
        norm's, a multiple of `curvature_every`; every step without an optimizer (no learning rate
        to read). Conservative: a batch ended early (an evaluation) only makes that step come
        sooner than needed."""
        if self.optimizer is None or not self.optimizer.param_groups:
            return 0
        until = steps + self.sync_every - len(self._queued)
        until = min(until, (steps // self.grad_norm_every + 1) * self.grad_norm_every)
        if self.curvature_every is not None:
            until = min(until, (steps // self.curvature_every + 1) * self.curvature_every)
        return until

    def eval(
        self, loss: float | torch.Tensor, *, name: str = "val_loss", split: Split = "val"
    ) -> list[Alert]:
        """A held-out loss at the current step (after the steps not fed yet)."""
        return self.evaluation(self.steps, loss, name=name, split=split)

    def __enter__(self) -> TorchRun:
        self.start()  # with a held batch given: lambda_max at the initial weights
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.finished:
            self.report = self.finish()


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: LossFn | None = None,
    *,
    held_batch: Any = None,
    output_dir: str | Path = "traindoc-watch",
    emit: Emit = log_emit,
    **options: Any,
) -> TorchRun:
    """Watch a plain PyTorch loop. Options: see `Run` (curvature_every, budget, classes, baseline,
    patience, store, db_path, server, token, ...)."""
    return TorchRun(
        model,
        optimizer,
        loss_fn,
        held_batch=copy_batch(held_batch),
        output_dir=output_dir,
        emit=emit,
        framework="torch",
        **options,
    )
