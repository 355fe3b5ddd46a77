"""Keras 3 on the torch backend (KERAS_BACKEND=torch): `model.fit(..., callbacks=[TraindocCallback(...)])`.

Keras reports, at each batch, the running mean of the loss over the epoch; the loss of batch k is
recovered from two consecutive means, l_k = (k + 1) m_k - k m_(k-1): exact when the batches are of
equal size, approximate for an epoch's last, smaller batch (fed to the history `sync_every` steps at
a time). Held-out losses come from the epoch
logs (`val_loss`). Curvature needs `held_batch=(x, y)` (Keras does not hand the data to callbacks);
its loss is the compiled loss plus the model's regularization losses, on `model(x, training=False)`.
The stability threshold is the SGD one (learning rate, momentum, Nesterov) for `keras.optimizers.SGD`;
for Adam / AdamW the preconditioned one, from the optimizer's own moment variables (`adam_scaling`),
and for RMSprop the same with beta1 = 0 and its heavy-ball momentum; for other Keras optimizers
lambda_max is reported without a threshold. Messages are printed with
Keras's own `print_msg` (silenced with `verbose=0`).

Requires `keras` >= 3 with the torch backend (the `keras` extra); imported only when this module is.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import torch
from keras.src.utils import io_utils  # print_msg: what fit(verbose=1) prints with

from assistant.watch._run import Run
from probes.base import ProbeError
from probes.live import Threshold
from probes.stability import StepRule

if keras.backend.backend() != "torch":  # a TensorFlow / JAX model is not a torch module
    raise ImportError(
        f"assistant.watch.keras needs KERAS_BACKEND=torch (the backend is {keras.backend.backend()!r})"
    )


def _float(value: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


def keras_loss(model: keras.Model, batch: Any) -> torch.Tensor:
    x, y = batch
    loss_fn = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
    if loss_fn is None:
        raise ProbeError("the model was compiled without a loss: pass loss= to compile()")
    # not model.compute_loss: its CompileLoss updates the per-output loss metrics fit() reports
    loss = loss_fn(y, model(x, training=False))
    if loss.dim() > 0:  # a function from keras.losses.get gives per-sample losses: Keras's default
        loss = loss.mean()  # reduction, "sum_over_batch_size", is their mean
    for extra in model.losses:  # kernel regularizers and add_loss: part of what is minimized
        loss = loss + extra
    return loss


def keras_threshold(model: keras.Model) -> Threshold:
    """The stability threshold of the model's Keras optimizer at its learning rate now."""
    opt = model.optimizer
    lr = _float(opt.learning_rate)
    name = type(opt).__name__
    if name == "SGD":
        rule = StepRule("SGD", lr, momentum=float(opt.momentum), nesterov=bool(opt.nesterov))
        return Threshold.sgd(rule, "keras.SGD")
    if lr > 0 and name in ("Adam", "AdamW") and not opt.amsgrad:
        beta1 = float(opt.beta_1)
        return Threshold(
            "adam",
            f"keras.{name}",
            lr,
            (2 + 2 * beta1) / ((1 - beta1) * lr),
            f"(2 + 2 beta1) / ((1 - beta1) lr) with beta1 = {beta1:g}",
            True,
            judged_from_step=1.0 / (1.0 - float(opt.beta_2)),  # as torch's Adam (probes.live)
            scaling=lambda params: keras_scaling(model, params),
        )
    if lr > 0 and name == "RMSprop":
        # heavy-ball momentum on the preconditioned problem: the SGD limit 2 (1 + mu) / lr
        mu = float(opt.momentum)
        return Threshold(
            "rmsprop",
            f"keras.{name}",
            lr,
            2 * (1 + mu) / lr,
            f"2 (1 + momentum) / lr with momentum = {mu:g}",
            True,
            judged_from_step=1.0 / (1.0 - float(opt.rho)),
            scaling=lambda params: keras_scaling(model, params),
        )
    return Threshold("none", f"keras.{name}", lr, None, f"no stability threshold for keras {name}", False)


def keras_scaling(model: keras.Model, params: Any) -> list[torch.Tensor] | None:
    """D = P^-1/2 per torch parameter, P the diagonal preconditioner of the step Keras takes:
    Adam  theta -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps) = lr m / P,
          P = (1 - b1^t) (sqrt(v) + eps) / sqrt(1 - b2^t) (torch's P up to where eps sits);
    RMSprop  theta -= lr g / sqrt(v + eps) (centered: v - mean(g)^2 + eps), P = sqrt(...).
    A parameter the optimizer does not move gets 0; None before the first step (no statistics)."""
    opt = model.optimizer
    t = int(_float(opt.iterations))
    if t < 1 or not getattr(opt, "built", False):
        return None
    name = type(opt).__name__
    by_param: dict[int, torch.Tensor] = {}
    for variable in opt._trainable_variables:  # the order of _velocities / _momentums
        i = opt._get_variable_index(variable)
        v = opt._velocities[i].value.detach()
        if name == "RMSprop":
            denominator = v + opt.epsilon
            if opt.centered:
                denominator = denominator - opt._average_gradients[i].value.detach() ** 2
            p_diag = denominator.clamp_min(0).sqrt()
        else:
            b1, b2 = float(opt.beta_1), float(opt.beta_2)
            p_diag = (1 - b1**t) * (v.sqrt() + opt.epsilon) / math.sqrt(1 - b2**t)
        by_param[id(variable.value)] = p_diag.rsqrt()
    return [by_param[id(p)].to(p.dtype) if id(p) in by_param else torch.zeros_like(p) for p in params]


class TraindocCallback(keras.callbacks.Callback):
    """Watch `model.fit`. Options are those of `assistant.watch.Run` (curvature_every, budget, classes,
    baseline, store, server, ...)."""

    def __init__(
        self,
        output_dir: str | Path = "traindoc-watch",
        *,
        held_batch: Any = None,
        verbose: int = 1,
        **options: Any,
    ) -> None:
        super().__init__()
        self.output_dir, self.held_batch, self.verbose, self.options = (
            output_dir,
            held_batch,
            verbose,
            options,
        )
        self.run: Run | None = None
        self.report: Any = None
        self._step = 0
        self._mean: float | None = None

    def _emit(self, level: str, message: str) -> None:
        if self.verbose:
            io_utils.print_msg(message)

    def _threshold(self) -> Threshold:
        return keras_threshold(self.model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        held = None
        if self.held_batch is not None:
            x, y = self.held_batch
            held = (keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y))
        self.run = Run(
            self.model,
            None,
            held_batch=held,
            loss_of=keras_loss,
            output_dir=self.output_dir,
            name=self.model.name,
            framework="keras",
            emit=self._emit,
            threshold=self._threshold,
            **self.options,
        )
        self.run.start()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._mean = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.run is None or not logs or "loss" not in logs:
            return
        self._step += 1
        mean = float(logs["loss"])
        # the running mean over the epoch's batches back to this batch's own loss
        loss = mean if self._mean is None or batch == 0 else (batch + 1) * mean - batch * self._mean
        if not math.isfinite(mean):
            loss = mean
        self._mean = mean
        lr = _float(self.model.optimizer.learning_rate)
        self.run.queue(self._step, loss, learning_rate=lr)  # fed `sync_every` steps at a time

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.run is None or not logs:
            return
        for key, value in logs.items():
            if key.startswith("val_") and key.endswith("loss"):
                self.run.evaluation(self._step, float(value), name=key, epoch=epoch + 1)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.run is not None and not self.run.finished:
            self.report = self.run.finish()
