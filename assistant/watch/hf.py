"""Hugging Face Trainer: `Trainer(..., callbacks=[TraindocCallback()])`.

Training losses, learning rate and gradient norm come from the Trainer's own logs (every
`logging_steps`; fed to the history `sync_every` steps at a time, at once when logged that sparsely),
held-out losses from its evaluations (`eval_loss`, `eval_<set>_loss`). The held
batch for curvature is the first `held_samples` examples of the training set run through the
Trainer's own collator (no RNG drawn: the data order stays the run's). Alerts and the diagnosis go
through the transformers logger (`logger.warning`, shown at the default verbosity).

Requires `transformers` (the `hf` extra); imported only when this module is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.utils import logging as hf_logging

from assistant.watch._run import Run
from probes.base import ProbeError
from probes.live import isolated

# under "transformers": the Trainer's handler and verbosity apply (set_verbosity_error silences it)
logger = hf_logging.get_logger("transformers.traindoc")


def _emit(level: str, message: str) -> None:
    logger.warning(message)  # the Trainer's default verbosity hides info: alerts must be seen


def unwrap_optimizer(optimizer: Any) -> torch.optim.Optimizer | None:
    """accelerate wraps the optimizer (AcceleratedOptimizer); the statistics live in the inner one."""
    seen = 0
    while optimizer is not None and hasattr(optimizer, "optimizer") and seen < 4:
        optimizer, seen = optimizer.optimizer, seen + 1
    return optimizer if isinstance(optimizer, torch.optim.Optimizer) else None


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    return batch


def model_loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
    out = model(**batch) if isinstance(batch, dict) else model(*batch)
    loss = out["loss"] if isinstance(out, dict) or hasattr(out, "keys") else getattr(out, "loss", None)
    if loss is None:
        raise ProbeError("the model returned no loss on the held batch: does the collator add labels?")
    return loss


class TraindocCallback(TrainerCallback):
    """Watch a Trainer run. `output_dir` defaults to `<args.output_dir>/traindoc`; other options are
    those of `assistant.watch.Run` (curvature_every, budget, classes, baseline, store, server, ...)."""

    def __init__(
        self, output_dir: str | Path | None = None, *, held_samples: int | None = None, **options: Any
    ) -> None:
        self.output_dir, self.held_samples, self.options = output_dir, held_samples, options
        self.run: Run | None = None
        self.report: Any = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs.get("model")
        # the held batch is one training batch by default: a measurement then costs a few steps
        n = self.held_samples if self.held_samples is not None else args.per_device_train_batch_size
        held = self._held_batch(kwargs.get("train_dataloader"), model, n)
        # TrainingArguments types output_dir Optional but fills it in __post_init__ (None: "trainer_output")
        run_dir = Path(args.output_dir or "trainer_output")
        self.run = Run(
            model,
            unwrap_optimizer(kwargs.get("optimizer")),
            held_batch=held,
            loss_of=model_loss,
            output_dir=self.output_dir or run_dir / "traindoc",
            name=run_dir.name,
            framework="hf",
            emit=_emit,
            total_steps=state.max_steps or None,
            **self.options,
        )
        self.run.start()

    def _held_batch(self, loader: Any, model: Any, samples: int) -> Any:
        if loader is None or model is None or samples <= 0:
            return None
        dataset, collate = getattr(loader, "dataset", None), getattr(loader, "collate_fn", None)
        if dataset is None or collate is None:
            return None
        try:
            n = min(samples, len(dataset))
            with isolated(None):  # a random collator (MLM masking) must not move the run's RNG
                batch = collate([dataset[i] for i in range(n)])
        except (TypeError, IndexError, KeyError):  # an iterable dataset: no held batch, no curvature
            return None
        device = next(model.parameters()).device
        return _to(batch, device)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.run is None or not logs:
            return
        step, epoch = state.global_step, logs.get("epoch")
        if "loss" in logs:  # fed `sync_every` steps at a time (Run.queue); at once when logged sparsely
            self.run.queue(
                step,
                logs["loss"],
                learning_rate=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                epoch=epoch,
            )
        for key, value in logs.items():
            if key.startswith("eval_") and key.endswith("loss") and isinstance(value, (int, float)):
                eval_set = key.removeprefix("eval_").removesuffix("loss").strip("_") or None
                self.run.evaluation(step, value, name=key if eval_set else "eval_loss", epoch=epoch)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.run is not None and not self.run.finished:
            self.report = self.run.finish()
