"""PyTorch Lightning: `Trainer(..., callbacks=[TraindocCallback()])`.

Training losses come from what `training_step` returns (every step; fed to the history `sync_every`
steps at a time, read in one transfer on an accelerator), the learning rate from the
first optimizer, the gradient norm from the parameters' gradients after the step, held-out losses from
the logged metrics with "loss" and "val" (or "test") in their name at the end of each validation.
The held batch is the first training batch (a copy). Its loss is `loss_of(module, batch)` if given,
else the module's own `training_step(batch, 0)` with `self.log` silenced, so the measurement logs
nothing. Messages go through the "lightning.pytorch" logger, on rank zero only.

Requires `lightning` (the `lightning` extra); imported only when this module is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import nn

from assistant.watch._run import LossOf, Run
from assistant.watch.torch import copy_batch, grad_norm_of
from probes.base import ProbeError
from probes.history._models import Split

logger = logging.getLogger("lightning.pytorch.callbacks.traindoc")
GRAD_NORM_EVERY = 10  # steps between gradient norms (each one syncs and reads every gradient)


def _emit(level: str, message: str) -> None:
    # `rank` is set on the function object at import by lightning_utilities, so no type declares it
    if getattr(rank_zero_only, "rank", 0) == 0:
        logger.log(logging.WARNING if level == "warning" else logging.INFO, message)


def training_step_loss(module: nn.Module, batch: Any) -> torch.Tensor:
    """The module's own training loss on `batch`, with its logging calls silenced."""
    if not isinstance(module, LightningModule):  # Run hands over the watched model as a plain module
        raise ProbeError("the watched model is not a LightningModule; pass loss_of=")
    module.log, module.log_dict = _silent, _silent  # type: ignore[method-assign]  # silenced for this one call: deleted below, the class methods show again
    try:
        out = module.training_step(batch, 0)
    finally:
        del module.log, module.log_dict  # the class's methods again
    loss = out.get("loss") if isinstance(out, dict) else out
    if not isinstance(loss, torch.Tensor):
        raise ProbeError("training_step returned no loss tensor on the held batch; pass loss_of=")
    return loss


def _silent(*args: Any, **kwargs: Any) -> None:
    return None


class TraindocCallback(Callback):
    """Watch a Lightning fit. `output_dir` defaults to `<default_root_dir>/traindoc`; other options are
    those of `assistant.watch.Run` (curvature_every, budget, classes, baseline, store, server, ...)."""

    def __init__(
        self,
        output_dir: str | Path | None = None,
        *,
        held_batch: Any = None,
        loss_of: LossOf | None = None,
        **options: Any,
    ) -> None:
        self.output_dir, self.held_batch, self.options = output_dir, held_batch, options
        self.loss_of: LossOf = loss_of or training_step_loss
        self.run: Run | None = None
        self.report: Any = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        self.run = Run(
            pl_module,
            optimizer,
            held_batch=copy_batch(self.held_batch),
            loss_of=self.loss_of,
            output_dir=self.output_dir or Path(trainer.default_root_dir) / "traindoc",
            name=type(pl_module).__name__,
            framework="lightning",
            emit=_emit,
            total_steps=trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None,
            **self.options,
        )

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.run is not None and trainer.global_step == 0 and not self.run.sharpness:
            self.run.hold(copy_batch(batch))
            self.run.start()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.run is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        step = trainer.global_step
        grad_norm = grad_norm_of(pl_module) if step % GRAD_NORM_EVERY == 0 else None
        # fed `sync_every` steps at a time (Run.queue): on an accelerator the losses are read together
        self.run.queue(step, loss, grad_norm=grad_norm, epoch=trainer.current_epoch)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # after the epoch-level metrics are reduced into callback_metrics
        if self.run is None or trainer.sanity_checking:
            return
        for key, value in trainer.callback_metrics.items():
            name = key.lower()
            if "loss" not in name or not any(w in name for w in ("val", "valid", "test")):
                continue
            split: Split = "test" if "test" in name else "val"
            self.run.evaluation(
                trainer.global_step, value, name=key, split=split, epoch=trainer.current_epoch
            )

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.run is not None and not self.run.finished:
            self.report = self.run.finish()
