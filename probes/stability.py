"""Is the learning rate above the largest stable step for the sharpest direction?

On a quadratic with curvature lambda, gradient descent with step eta diverges along that direction
when eta * lambda > 2. PyTorch's SGD variants move the limit (checked by simulation on a 1-D
quadratic): heavy-ball momentum beta allows eta * lambda < 2(1 + beta), Nesterov momentum
2(1 + beta) / (1 + 2 beta), dampening d scales the step by (1 - d), and weight decay wd adds wd to
the curvature. Adaptive optimizers (Adam, RMSprop, Adagrad...) rescale every coordinate by their own
running statistics, which a trained model does not keep, so for them this check says "unsure".

Adam-type optimizers have their own limit when their state is known (probes/learning_rate.py reads
it from a snapshot taken during training): the PRECONDITIONED sharpness, lambda_max of P^-1 H with
P = diag(sqrt(v_hat) + eps), against (2 + 2 beta1) / ((1 - beta1) eta) -- 38 / eta for beta1 = 0.9
(Cohen et al. 2022, "Adaptive gradient methods at the edge of stability", arXiv 2207.14484): Adam's
update is heavy-ball momentum on the preconditioned gradient with an exponential moving average.
RMSprop is the same with beta1 = 0 and heavy-ball momentum: 2(1 + momentum) / eta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

ADAM_TYPE = ("Adam", "AdamW")


@dataclass(frozen=True)
class StepRule:
    """What the stability check needs to know about the optimizer."""

    optimizer: str | None  # class name, e.g. "SGD", "Adam"; None when unknown
    learning_rate: float | None
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] | None = None  # Adam-type: (beta1, beta2)
    eps: float | None = None
    alpha: float | None = None  # RMSprop's smoothing constant (its beta2)

    @classmethod
    def of(cls, optimizer: torch.optim.Optimizer | None, learning_rate: float | None = None) -> StepRule:
        """From an optimizer instance (first parameter group); `learning_rate` alone means plain SGD."""
        if optimizer is None:
            return cls("SGD" if learning_rate is not None else None, learning_rate)
        group = optimizer.param_groups[0] if optimizer.param_groups else {}
        lr = learning_rate if learning_rate is not None else group.get("lr")
        return cls(
            optimizer=type(optimizer).__name__,
            learning_rate=None if lr is None else float(lr),
            momentum=float(group.get("momentum", 0.0) or 0.0),
            dampening=float(group.get("dampening", 0.0) or 0.0),
            nesterov=bool(group.get("nesterov", False)),
            weight_decay=float(group.get("weight_decay", 0.0) or 0.0),
            betas=(float(group["betas"][0]), float(group["betas"][1])) if "betas" in group else None,
            eps=float(group["eps"]) if "eps" in group else None,
            alpha=float(group["alpha"]) if "alpha" in group else None,
        )

    @property
    def adaptive(self) -> bool:
        """Adam-type (Adam, AdamW) or RMSprop: a preconditioned limit exists."""
        return self.optimizer in ADAM_TYPE or self.optimizer == "RMSprop"

    def adaptive_threshold(self) -> float | None:
        """The preconditioned sharpness above which an adaptive optimizer is unstable (None: unknown)."""
        if self.learning_rate is None or self.learning_rate <= 0 or not self.adaptive:
            return None
        if self.optimizer in ADAM_TYPE:
            beta1 = self.betas[0] if self.betas else 0.9
            return (2 + 2 * beta1) / ((1 - beta1) * self.learning_rate)
        return 2 * (1 + self.momentum) / self.learning_rate  # RMSprop

    def adaptive_formula(self) -> str:
        if self.optimizer in ADAM_TYPE:
            return "(2 + 2 beta1) / ((1 - beta1) learning_rate)"
        return "2(1 + momentum) / learning_rate"

    @property
    def sgd(self) -> bool:
        return self.optimizer == "SGD"

    def limit(self, lambda_max: float) -> float | None:
        """The largest stable learning rate for this rule, or None when no direction curves up."""
        curvature = lambda_max + (self.weight_decay if self.sgd else 0.0)
        if curvature <= 0:
            return None
        if not self.sgd:
            return 2.0 / curvature
        beta = self.momentum
        factor = 2 * (1 + beta) / (1 + 2 * beta) if self.nesterov else 2 * (1 + beta)
        return factor / ((1 - self.dampening) * curvature)

    def formula(self) -> str:
        if not self.sgd:
            return "2 / lambda_max"
        parts = "2(1 + momentum) / (1 + 2 momentum)" if self.nesterov else "2(1 + momentum)"
        if self.dampening:
            parts += " / (1 - dampening)"
        curvature = "(lambda_max + weight_decay)" if self.weight_decay else "lambda_max"
        return f"{parts} / {curvature}" if self.momentum or self.dampening else f"2 / {curvature}"


def stability_check(rule: StepRule, lambda_max: float, converged: bool) -> dict[str, Any]:
    """The check's numbers; `exceeds` is None when it cannot be decided.

    An unconverged Lanczos lambda_max is a lower bound on the true one (interlacing), so the limit
    computed from it is an upper bound: exceeding it is proof, staying under it is not.
    """
    limit = rule.limit(lambda_max)
    plain = 2.0 / lambda_max if lambda_max > 0 else None
    exceeds: bool | None = None
    if rule.sgd and rule.learning_rate is not None and limit is not None:
        above = rule.learning_rate > limit
        exceeds = True if above else (False if converged else None)
    elif rule.sgd and rule.learning_rate is not None and limit is None:
        exceeds = False  # no direction curves up: nothing to overshoot
    return {
        "optimizer": rule.optimizer,
        "learning_rate": rule.learning_rate,
        "momentum": rule.momentum,
        "nesterov": rule.nesterov,
        "dampening": rule.dampening,
        "weight_decay": rule.weight_decay,
        "formula": rule.formula(),
        "limit": limit,
        "plain_gd_limit": plain,
        "exceeds": exceeds,
        "applies": rule.sgd,
    }
