"""Curvature of the real model during a run: lambda_max against the optimizer's stability threshold,
and at the end the gradient norm with both extreme eigenvalues.

Thresholds (a quadratic with curvature lambda along the sharpest direction):
- SGD (momentum, Nesterov, dampening, weight decay): the step is stable while lr < limit(lambda), with
  `probes.stability.StepRule` the one home of that formula; as a sharpness threshold,
  lambda* = limit(1) (1 + wd) / lr - wd (2 / lr for plain SGD).
- Adam / AdamW (torch, or Keras through `Threshold.scaling`; Keras RMSprop as Adam with beta1 = 0 and
  heavy-ball momentum): the preconditioned sharpness lambda_max(P^-1 H), P = (1 - beta1^t) diag(sqrt(v_hat) + eps)
  from the optimizer's own state, against (2 + 2 beta1) / ((1 - beta1) lr) (38 / lr for beta1 = 0.9):
  Cohen et al., "Adaptive Gradient Methods at the Edge of Stability" (2022). The symmetric form
  D H D with D = P^-1/2 has the same eigenvalues, so Lanczos applies unchanged.
Other optimizers get lambda_max without a threshold.

Every measurement runs inside `isolated`, which gives back what a measurement could change: the
python, numpy, torch and CUDA random states (dropout masks and data order stay the run's own), the
modules' train/eval flags and their buffers. Gradients come from `torch.autograd.grad`, so `.grad` of
the parameters is never touched, and the double-backward graph is released before returning.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn

from probes.base import ProbeError
from probes.curvature.measure import decision_test, modes_and_buffers_kept
from probes.curvature_report import Classification, classify
from probes.hessian import HessianOperator, LanczosResult, LanczosStep, lanczos
from probes.stability import StepRule, stability_check
from rules.judgements import GRADIENT_ZERO, NEGATIVE_FRACTION, eigenvalue_negative, gradient_small

LossClosure = Callable[[], torch.Tensor]
NamedParameters = Sequence[tuple[str, torch.Tensor]]


@contextmanager
def isolated(model: nn.Module | None, mode: str = "eval") -> Iterator[None]:
    """Run a measurement without leaving a trace on the run (see the module docstring)."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        with modes_and_buffers_kept(model, mode), torch.enable_grad():
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


# -- thresholds -------------------------------------------------------------------------------------


@dataclass
class Threshold:
    """Where the optimizer's step stops being stable, in units of (preconditioned) sharpness."""

    kind: str  # "sgd" | "adam" | "none"
    optimizer: str | None
    learning_rate: float | None
    value: float | None  # the sharpness threshold; None when unknown
    formula: str
    preconditioned: bool
    note: str = ""
    rule: StepRule | None = None  # SGD: decides "exceeds" through probes.stability
    # Adam: the threshold assumes a preconditioner that changes slowly, which holds once the second-
    # moment average spans its window, t >= 1 / (1 - beta2); before that (at t = 1 Adam is sign
    # descent) lambda_max is reported but not judged
    judged_from_step: float = 0.0
    # the preconditioner D = P^-1/2 per parameter, for optimizers whose state torch cannot read
    # (Keras: its own variables); None from it means no statistics yet (before the first step)
    scaling: Callable[[Sequence[torch.Tensor]], list[torch.Tensor] | None] | None = None

    @classmethod
    def sgd(cls, rule: StepRule, optimizer: str = "SGD", note: str = "") -> Threshold:
        """From a StepRule (any framework's SGD: lr, momentum, Nesterov, dampening, weight decay)."""
        lr = rule.learning_rate
        if not lr or lr <= 0:
            return cls("none", optimizer, lr, None, "learning rate 0 or unknown", False, note)
        one = rule.limit(1.0)
        assert one is not None
        value = one * (1 + rule.weight_decay) / lr - rule.weight_decay
        return cls("sgd", optimizer, lr, value, f"lr < {rule.formula()}", False, note, rule)


def _adam_like(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer).__name__ in {"Adam", "AdamW", "NAdam", "RAdam"} or (
        "betas" in optimizer.defaults and "eps" in optimizer.defaults
    )


def threshold_of(optimizer: torch.optim.Optimizer | None, learning_rate: float | None = None) -> Threshold:
    """The stability threshold of a torch optimizer now (its current learning rate)."""
    if optimizer is None:
        if learning_rate is None:
            return Threshold("none", None, None, None, "unknown optimizer", False)
        return Threshold.sgd(StepRule("SGD", learning_rate))
    group = optimizer.param_groups[0]
    lr = float(learning_rate if learning_rate is not None else group["lr"])
    name = type(optimizer).__name__
    note = "" if len(optimizer.param_groups) == 1 else "several parameter groups: the first one's lr is used"
    if lr <= 0:
        return Threshold("none", name, lr, None, "learning rate 0", False, note)
    if name == "SGD":
        return Threshold.sgd(StepRule.of(optimizer, lr), name, note)
    if _adam_like(optimizer):
        beta1 = float(group["betas"][0])
        value = (2 + 2 * beta1) / ((1 - beta1) * lr)
        formula = f"(2 + 2 beta1) / ((1 - beta1) lr) with beta1 = {beta1:g}"
        warm = 1.0 / (1.0 - float(group["betas"][1]))
        return Threshold("adam", name, lr, value, formula, True, note, judged_from_step=warm)
    return Threshold("none", name, lr, None, f"no stability threshold known for {name}", False, note)


def _scaling(
    optimizer: torch.optim.Optimizer | None, params: Sequence[torch.Tensor], threshold: Threshold
) -> list[torch.Tensor] | None:
    """D per parameter (D H D is measured): P^-1/2 for Adam, 1 for SGD; 0 where the optimizer does not
    move the parameter. None when Adam has no statistics yet (before its first step), and when D is 1
    everywhere (the plain Hessian)."""
    if threshold.scaling is not None:
        return threshold.scaling(params)
    if optimizer is None:
        return None
    owned = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    if threshold.kind != "adam":
        if all(id(p) in owned for p in params):
            return None  # D = 1: the plain Hessian, no scaled operator around every product
        return [torch.ones_like(p) if id(p) in owned else torch.zeros_like(p) for p in params]
    scales = []
    for p in params:
        group = owned.get(id(p))
        state = optimizer.state.get(p, {}) if group is not None else {}
        if group is None:
            scales.append(torch.zeros_like(p))
            continue
        if "exp_avg_sq" not in state:
            return None
        beta1, beta2 = group["betas"]
        t = float(state["step"])
        v_hat = state["exp_avg_sq"].detach() / (1 - beta2**t)
        p_diag = (1 - beta1**t) * (v_hat.sqrt() + group["eps"])
        scales.append(p_diag.rsqrt().to(p.dtype))
    return scales


class _Scaled:
    """v -> D H D v: the preconditioned Hessian in a symmetric form Lanczos can use."""

    def __init__(self, operator: HessianOperator, scale: torch.Tensor) -> None:
        self.operator, self.scale = operator, scale
        self.dim, self.dtype, self.device = operator.dim, operator.dtype, operator.device

    @property
    def hvp_count(self) -> int:
        return self.operator.hvp_count

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        d = self.scale.to(vector.dtype)
        return self.operator(d * vector).to(vector.dtype) * d


# -- measurements -----------------------------------------------------------------------------------


@dataclass
class Sharpness:
    step: float
    lambda_max: float  # of D H D (preconditioned for Adam)
    converged: bool
    hvp: int
    seconds: float
    threshold: float | None
    ratio: float | None  # lambda_max / threshold: 1 is the edge of stability
    kind: str
    preconditioned: bool
    loss: float
    exceeds: bool | None  # above the threshold (a Ritz value is a lower bound: only "yes" is proof)
    warm_start: bool = False  # Lanczos started from the previous measurement's top eigenvector
    # why Lanczos stopped before lambda_max converged, when a decision test stopped it (step 0: "well
    # below the threshold"); None otherwise
    settled: str | None = None
    # the unit top Ritz vector (flat, of D H D), the next measurement's start; the caller keeps only
    # the latest one (a model-sized vector per measurement would grow with the run)
    vector: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "vector"}


def top_converged(result: LanczosResult, tolerance: float) -> bool:
    """lambda_max alone is settled (its error bound within tolerance of its size), whether or not
    lambda_min is: the stability check needs only the top of the spectrum."""
    return result.converged or result.error_bound_max <= tolerance * max(abs(result.lambda_max), 1e-12)


class RandomStart:
    """The seeded random vector a run's measurements start from, drawn once: Lanczos's cold start
    (`lanczos(seed=)` draws `torch.randn(dim)` from a generator seeded with `seed`, in float64) and
    the half random vector each warm start mixes in (`start_from`) are that same draw at every
    measurement, and drawing it (~0.9 ms for the benchmark MLP's 26k parameters) was a tenth of a
    warm measurement. Keeps one float64 vector of the model's size on the CPU (as the Lanczos basis
    does ~10). The same bits as drawing it each time."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._vector: torch.Tensor | None = None
        self._half: torch.Tensor | None = None
        # seconds spent drawing (and halving) it: a one-time cost inside the first measurement,
        # which a caller planning the next measurements from the first one's time leaves out
        self.draw_seconds = 0.0

    def vector(self, dim: int) -> torch.Tensor:
        """`torch.randn(dim, generator=Generator().manual_seed(seed), dtype=float64)`, kept."""
        if self._vector is None or self._vector.numel() != dim:
            started = time.perf_counter()
            generator = torch.Generator().manual_seed(self.seed)
            self._vector = torch.randn(dim, generator=generator, dtype=torch.float64)
            self._half = None
            self.draw_seconds += time.perf_counter() - started
        return self._vector

    def half_unit(self, dim: int) -> torch.Tensor:
        """Half the unit random vector, `0.5 * noise / noise.norm()` as `start_from` writes it (the
        same expression, so the same bits), kept too: two passes over the vector less a measurement."""
        noise = self.vector(dim)
        if self._half is None:
            started = time.perf_counter()
            self._half = 0.5 * noise / noise.norm()
            self.draw_seconds += time.perf_counter() - started
        return self._half


def start_from(
    previous: torch.Tensor | None, dim: int, seed: int, random: RandomStart | None = None
) -> torch.Tensor | None:
    """A Lanczos start vector from the previous top eigenvector: lambda_max moves slowly between
    measurements, so a start close to its eigenvector settles it in a few products instead of ~10.
    Half a random unit vector is mixed in, so a direction that has become the sharpest since still
    has at least the weight a random start would give it (Lanczos finds the top of the spectrum its
    start touches). None (a random start) without a previous vector of the right size. `random`:
    the run's kept draw of that random vector (`RandomStart`, with this `seed`)."""
    if previous is None or previous.numel() != dim:
        return None
    v = previous.detach().to("cpu", torch.float64)
    # a NaN or infinite entry makes the norm NaN or infinite: one reduction instead of an isfinite
    # mask as large as the model (~0.1 ms of a measurement on the benchmark MLP). A finite vector
    # whose norm still overflows (entries beyond 1e154; a unit Ritz vector never is) is refused too
    norm = float(v.norm())
    if norm == 0.0 or not math.isfinite(norm):
        return None
    if random is None or random.seed != seed:
        random = RandomStart(seed)  # drawn for this start alone
    return v / norm + random.half_unit(dim)


def _cold_start(random: RandomStart | None, dim: int, seed: int) -> torch.Tensor | None:
    """Lanczos's own random start (None: it draws it) from the kept draw when there is one."""
    return random.vector(dim) if random is not None and random.seed == seed else None


def _top_settled(step: LanczosStep) -> str | None:
    return "lambda_max converged" if step.converged_max else None


BELOW = "well below the threshold"


def _settled_below(limit: float) -> Callable[[LanczosStep], str | None]:
    """lambda_max settled, or decided well below `limit`: the top Ritz value plus its error estimate
    and its last change still under the limit (the question a measurement at step 0 asks is whether
    the learning rate is far above the stability limit; far below it, 1% precision buys nothing)."""

    def settled(step: LanczosStep) -> str | None:
        if step.converged_max:
            return "lambda_max converged"
        if step.lambda_max + step.error_bound_max + step.change_max <= limit:
            return BELOW
        return None

    return settled


def _operator(loss_fn: LossClosure, named: NamedParameters) -> HessianOperator:
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise ProbeError("the held batch's loss must be a scalar tensor")
    if not math.isfinite(float(loss.detach())):
        raise ProbeError(f"the loss on the held batch is {float(loss.detach())}")
    return HessianOperator(loss, named)


def sharpness(
    model: nn.Module,
    loss_fn: LossClosure,
    optimizer: torch.optim.Optimizer | None,
    *,
    step: float,
    threshold: Threshold | None = None,
    max_hvp: int = 20,
    tolerance: float = 1e-2,
    mode: str = "eval",
    seed: int = 0,
    start: torch.Tensor | None = None,
    settle_below: float | None = None,
    random: RandomStart | None = None,
) -> Sharpness | None:
    """lambda_max on the held batch against the threshold; None when Adam has no statistics yet.
    `start`: the previous measurement's `vector` (see `start_from`). `settle_below` (a fraction of
    the threshold): also stop once lambda_max is clearly below that fraction of it (`settled`; the
    value is then a lower bound, `converged` False). `random`: a kept draw of the random start
    (`RandomStart`; the same numbers, drawn once per run)."""
    started = time.perf_counter()
    threshold = threshold or threshold_of(optimizer)
    with isolated(model, mode):
        operator = _operator(loss_fn, list(model.named_parameters()))
        try:
            scales = _scaling(optimizer, operator.params, threshold)
            if threshold.preconditioned and scales is None:
                return None
            target = (
                operator if scales is None else _Scaled(operator, torch.cat([s.reshape(-1) for s in scales]))
            )
            begin = start_from(start, operator.dim, seed, random)
            stop: Callable[[LanczosStep], str | None] = _top_settled
            if settle_below is not None and threshold.value is not None:
                stop = _settled_below(settle_below * threshold.value)
            # stop once the top alone is settled: the stability check needs nothing of lambda_min
            result = lanczos(
                target,
                max_iter=max_hvp,
                tol=tolerance,
                seed=seed,
                min_iter=3,
                start=begin if begin is not None else _cold_start(random, operator.dim, seed),
                settled=stop,
            )
        finally:
            operator.release()
    measured = judged(
        step=step,
        optimizer_steps=_optimizer_steps(optimizer),
        lambda_max=result.lambda_max,
        converged=top_converged(result, tolerance),
        threshold=threshold,
        hvp=operator.hvp_count,
        seconds=time.perf_counter() - started,
        loss=operator.loss,
        preconditioned=threshold.preconditioned and scales is not None,
    )
    measured.warm_start = begin is not None
    measured.settled = result.settled if result.settled == BELOW else None
    measured.vector = None if result.vector_max is None else result.vector_max.detach()
    return measured


def _optimizer_steps(optimizer: torch.optim.Optimizer | None) -> float | None:
    for state in optimizer.state.values() if optimizer is not None else ():
        if "step" in state:
            return float(state["step"])
    return None


def judged(
    *,
    step: float,
    optimizer_steps: float | None = None,
    lambda_max: float,
    converged: bool,
    threshold: Threshold,
    hvp: int,
    seconds: float,
    loss: float,
    preconditioned: bool = False,
) -> Sharpness:
    """A lambda_max read against the threshold (also for one measured elsewhere, e.g. the end point's)."""
    exceeds: bool | None = None
    warm = (optimizer_steps if optimizer_steps is not None else step) >= threshold.judged_from_step
    if threshold.rule is not None:
        exceeds = stability_check(threshold.rule, lambda_max, converged)["exceeds"]
    elif threshold.value is not None and warm:
        # a Ritz value is a lower bound on lambda_max: above the threshold is proof, below is not
        exceeds = True if lambda_max > threshold.value else (False if converged else None)
    return Sharpness(
        step=step,
        lambda_max=lambda_max,
        converged=converged,
        hvp=hvp,
        seconds=seconds,
        threshold=threshold.value,
        ratio=lambda_max / threshold.value if threshold.value else None,
        kind=threshold.kind,
        preconditioned=preconditioned,
        loss=loss,
        exceeds=exceeds,
    )


@dataclass
class EndPoint:
    """Where the run ended: the flowchart's saddle / local minimum / not at a critical point."""

    step: float
    loss: float
    gradient_norm: float
    lambda_max: float
    lambda_min: float
    converged: bool  # both ends
    lambda_max_converged: bool  # the top alone (what the stability check needs)
    hvp: int
    gradient_threshold: float
    negative_threshold: float
    hessian_negative: bool | None
    classification: Classification
    seconds: float
    parameters: int
    # "decide": Lanczos stopped once the flowchart's question was answered (lambda_min only as far as
    # the saddle / minimum decision needs it, not at all when the gradient is not small);
    # "accurate": both ends to the tolerance
    goal: str = "accurate"
    lambda_min_needed: bool = True  # False: not at a critical point, lambda_min is a rough Ritz value
    stopped_because: str = ""
    settled: str | None = None  # the decision test's reason, when it stopped the run
    warm_start: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


GOALS = ("decide", "accurate")


def end_point(
    model: nn.Module,
    loss_fn: LossClosure,
    *,
    step: float,
    gradient_threshold: float = GRADIENT_ZERO,
    negative_threshold: float = NEGATIVE_FRACTION,
    max_hvp: int = 40,
    tolerance: float = 1e-3,
    top_tolerance: float | None = None,
    mode: str = "eval",
    seed: int = 0,
    goal: str = "accurate",
    start: torch.Tensor | None = None,
    random: RandomStart | None = None,
) -> EndPoint:
    """Gradient norm and both extreme eigenvalues of the plain Hessian on the held batch, read the
    way `probes.measure` reads them (same thresholds, same `classify`).

    goal "decide" (what a watched run uses) stops as `probes.curvature`'s diagnosis does
    (`decision_test`): with a gradient that is not small, once lambda_max is settled to `top_tolerance`
    (default `tolerance`; the stability check needs no more) and lambda_min not at all; at a critical
    point, once a saddle is proven (a Ritz value clearly negative) or no clearly negative eigenvalue
    is left after `MIN_STEPS_FOR_NO` products. `start`: a previous top eigenvector (`start_from`),
    used only away from a critical point, where lambda_max is all that is asked (at a critical point
    the start is random, as in the full measurement, so lambda_min is searched for the same way)."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}")
    started = time.perf_counter()
    with isolated(model, mode):
        operator = _operator(loss_fn, list(model.named_parameters()))
        try:
            gradient_norm = float(operator.gradient.double().norm())
            small = gradient_small(gradient_norm, gradient_threshold).verdict == "yes"
            settled = None
            begin = None
            tol = tolerance
            if goal == "decide":
                if not small:
                    tol = top_tolerance if top_tolerance is not None else tolerance
                    begin = start_from(start, operator.dim, seed, random)
                settled = decision_test(small, negative_threshold, tol)
            min_iter = 3 if goal == "decide" and not small else 5
            result = lanczos(
                operator,
                max_iter=max_hvp,
                tol=tol,
                seed=seed,
                settled=settled,
                start=begin if begin is not None else _cold_start(random, operator.dim, seed),
                min_iter=min_iter,
            )
        finally:
            operator.release()
    radius = max(abs(result.lambda_max), abs(result.lambda_min))
    # Ritz values interlace the spectrum: a clearly negative one is proof, even unconverged; a
    # non-negative one is proof of the opposite once converged or settled by the decision test
    clearly_negative = eigenvalue_negative(result.lambda_min, radius, negative_threshold).verdict == "yes"
    decided_no = result.settled is not None and result.settled.startswith("no clearly")
    negative = True if clearly_negative else (False if result.converged or decided_no else None)
    return EndPoint(
        step=step,
        loss=operator.loss,
        gradient_norm=gradient_norm,
        lambda_max=result.lambda_max,
        lambda_min=result.lambda_min,
        converged=result.converged,
        lambda_max_converged=top_converged(result, tol),
        hvp=operator.hvp_count,
        gradient_threshold=gradient_threshold,
        negative_threshold=negative_threshold,
        hessian_negative=negative,
        classification=classify(small, negative),
        seconds=time.perf_counter() - started,
        parameters=operator.dim,
        goal=goal,
        lambda_min_needed=small or goal == "accurate",
        stopped_because=result.stopped_because,
        settled=result.settled,
        warm_start=begin is not None,
    )
