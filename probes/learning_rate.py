"""Is the learning rate too high? Measured where it matters, not only where training stopped.

A step that is too large shows at the START of training (the sharpness at initialization puts the
limit below the learning rate) or just before the loss spikes or diverges. A run that blew up has no
usable end point, and a network whose sharpness exploded and then died (dead units, a flat end) is
flat where it stopped, so the check measures at initialization and at the last sane point before the
first sign of trouble (`TrainingRecord`, kept by `train_model`), and at the end only when the run
finished without trouble.

The limits (probes/stability.py): SGD with heavy-ball momentum beta is stable along curvature
lambda while eta * lambda < 2(1 + beta); Adam-type optimizers while the PRECONDITIONED sharpness
lambda_max(P^-1 H), P = diag(sqrt(v_hat) + eps) from the optimizer's own state, stays below
(2 + 2 beta1) / ((1 - beta1) eta) = 38 / eta for beta1 = 0.9 (Cohen et al. 2022). Adam trains AT that
edge for long stretches and self-stabilizes there, so a preconditioned sharpness above it counts as
"too high" only before a spike or divergence; on a run that merely plateaued it is reported with its
numbers and left unsure.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch

from probes.base import (
    AnswerValue,
    ProbeError,
    ProbeOutcome,
    ProbeProgress,
    StopCheck,
    TrainingDiverged,
    never_stop,
)
from probes.context import ProbeContext
from probes.hessian import HessianOperator, flatten, lanczos
from probes.history import History, Series, analyse
from probes.measure import batch_loss, measuring, prepare_batches
from probes.setup import Setup, resolve_device
from probes.stability import ADAM_TYPE, StepRule
from probes.training import Snapshot, TrainingRecord, build_model


@dataclass
class RunShape:
    """What the step losses of the user's run show, judged by the history reader's own rules."""

    diverged: bool
    spiked: bool
    plateaued: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def troubled(self) -> bool:
        return self.diverged or self.spiked or self.plateaued


def run_shape(record: TrainingRecord) -> RunShape:
    """Diverged, spiked or plateaued? The same rules as for a history file (probes/history)."""
    if len(record.step_losses) < 2:
        return RunShape(False, False, False, ["fewer than 2 training steps recorded"])
    series = Series(
        name="loss",
        role="loss",
        split="train",
        x="step",
        steps=[float(i) for i in range(len(record.step_losses))],
        values=list(record.step_losses),
    )
    analysis = analyse(History(source="training run", format="json", series=[series]))
    noise = next((n for n in analysis.noise if n.name == "loss"), None)
    spiked = bool(noise and noise.spikes) or (
        record.trouble_step is not None and math.isfinite(record.step_losses[record.trouble_step])
    )
    trend = analysis.train_trend
    plateaued = trend is not None and trend.status in ("plateau", "flat")
    diverged = analysis.divergence.status == "diverged" or not record.finished
    reasons = [analysis.divergence.explanation]
    if trend is not None:
        reasons.append(trend.explanation)
    if record.trouble:
        reasons.append(record.trouble)
    if noise and noise.spikes:
        reasons.append(noise.explanation)
    return RunShape(diverged, spiked, plateaued, reasons)


@dataclass
class PointSharpness:
    """The sharpness at one point of the run and the learning rate's standing there."""

    where: str  # "initialization", "last sane point", "end of training"
    step: int
    loss: float  # the step's mini-batch loss when the snapshot was taken
    lambda_max: float  # of the Hessian on the measurement samples
    converged: bool
    preconditioned: float | None = None  # lambda_max of P^-1 H (adaptive optimizers)
    preconditioned_converged: bool | None = None
    threshold: float | None = None  # what the sharpness is compared with (2(1+beta)/eta or 38/eta)
    largest_stable_rate: float | None = None
    exceeds: bool | None = None
    note: str = ""


class _Preconditioned:
    """v -> D H D v with D = P^-1/2: a symmetric operator with the spectrum of P^-1 H."""

    def __init__(self, operator: HessianOperator, scale: torch.Tensor) -> None:
        self.operator, self.scale = operator, scale.to(operator.device, operator.dtype)
        self.dim, self.dtype, self.device = operator.dim, operator.dtype, operator.device
        self.hvp_count = 0

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        self.hvp_count += 1
        return self.scale * self.operator(self.scale * vector.to(self.device, self.dtype))


def _lambda_max(
    operator: Any, max_hvp: int, tolerance: float, seed: int, should_stop: StopCheck = never_stop
) -> tuple[float, bool]:
    run = lanczos(
        cast(HessianOperator, operator),
        max_iter=max_hvp,
        tol=tolerance,
        seed=seed,
        should_stop=should_stop,
        probe="learning_rate",
    )
    scale = max(abs(run.lambda_max), 1e-12)
    converged = run.converged or run.error_bound_max <= tolerance * scale
    return run.lambda_max, converged


def preconditioner(
    rule: StepRule, snapshot: Snapshot, names: list[str | None], wanted: list[str]
) -> torch.Tensor | None:
    """P^-1/2 flattened in the order of `wanted` parameter names, from the snapshot's optimizer state."""
    state = (snapshot.optimizer_state or {}).get("state", {})
    by_name = {name: state.get(i, {}) for i, name in enumerate(names) if name is not None}
    eps = rule.eps if rule.eps is not None else 1e-8
    pieces = []
    for name in wanted:
        entry = by_name.get(name, {})
        if rule.optimizer in ADAM_TYPE:
            v, step = entry.get("exp_avg_sq"), entry.get("step")
            if v is None or step is None or float(step) < 1:
                return None
            beta2 = rule.betas[1] if rule.betas else 0.999
            v = v / (1 - beta2 ** float(step))
        else:  # RMSprop
            v = entry.get("square_avg")
            if v is None:
                return None
            if "grad_avg" in entry:
                v = v - entry["grad_avg"] ** 2
        pieces.append((v.clamp_min(0).sqrt() + eps).reciprocal().sqrt())
    return flatten(pieces) if pieces else None


def measure_point(
    setup: Setup,
    depth: int,
    where: str,
    snapshot: Snapshot,
    rule: StepRule,
    names: list[str | None],
    *,
    samples: int,
    max_hvp: int,
    tolerance: float,
    should_stop: StopCheck = never_stop,
) -> PointSharpness:
    """Rebuild the model at the snapshot and measure lambda_max (and the preconditioned one)."""
    device = resolve_device(setup.device)
    model = build_model(setup, depth, device)
    model.load_state_dict(snapshot.parameters)
    batches = prepare_batches(setup.train, samples, setup.batch_size, device)
    with measuring(model, "train", device):  # the loss gradient descent sees: train mode
        operator = HessianOperator(
            batch_loss(model, setup.loss, batches, setup.seed), list(model.named_parameters())
        )
        if not math.isfinite(operator.loss):
            raise ProbeError(f"the loss at the {where} (step {snapshot.step}) is {operator.loss}")
        try:
            lam, converged = _lambda_max(operator, max_hvp, tolerance, setup.seed, should_stop)
            point = PointSharpness(where, snapshot.step, snapshot.loss, lam, converged)
            if rule.adaptive:
                scale = preconditioner(rule, snapshot, names, operator.names)
                if scale is None:
                    point.note = "no optimizer state yet here: the preconditioned sharpness is not defined"
                else:
                    pre, pre_ok = _lambda_max(
                        _Preconditioned(operator, scale), max_hvp, tolerance, setup.seed
                    )
                    point.preconditioned, point.preconditioned_converged = pre, pre_ok
        finally:
            operator.release()
    judge(point, rule)
    return point


def judge(point: PointSharpness, rule: StepRule) -> None:
    """Fill the threshold, the largest stable rate and `exceeds` (None: cannot be decided).

    A Ritz lambda_max is a lower bound on the true one (interlacing), so being above the threshold
    is proof even before Lanczos converges; being below is only with a converged lambda_max.
    """
    lr = rule.learning_rate
    if lr is None or lr <= 0:
        point.note = point.note or "the learning rate is unknown"
        return
    if rule.sgd:
        limit = rule.limit(point.lambda_max)
        point.largest_stable_rate = limit
        # the sharpness at which this learning rate sits exactly on the limit: 2(1 + beta) / eta ...
        point.threshold = None if limit is None else point.lambda_max * limit / lr
        point.exceeds = (
            False if limit is None else (True if lr > limit else (False if point.converged else None))
        )
        return
    threshold = rule.adaptive_threshold()
    if threshold is None or point.preconditioned is None:
        point.note = point.note or f"{rule.optimizer}: no stability limit is known for this optimizer"
        return
    point.threshold = threshold
    point.largest_stable_rate = threshold * lr / point.preconditioned if point.preconditioned > 0 else None
    above = point.preconditioned > threshold
    point.exceeds = True if above else (False if point.preconditioned_converged else None)


# -- the probe ----------------------------------------------------------------------------------------


def points_to_measure(record: TrainingRecord) -> list[tuple[str, Snapshot]]:
    """Initialization, and the last sane snapshot (before trouble, or the latest of a clean run)."""
    out: list[tuple[str, Snapshot]] = []
    if record.initial is not None:
        out.append(("initialization", record.initial))
    last = record.last_sane
    if last is not None and (record.initial is None or last.step != record.initial.step):
        out.append(("last sane point" if record.trouble_step is not None else "end of training", last))
    return out


def decide(points: list[PointSharpness], rule: StepRule, shape: RunShape) -> tuple[AnswerValue, list[str]]:
    """yes when a measured point exceeds its limit on a run that spiked or diverged, or (SGD) at a
    point after initialization; no when every measured point is within a converged limit; unsure
    otherwise, with the numbers.

    Above the limit only at initialization on a run that neither spiked nor diverged is no proof:
    gradient descent can catapult out of a sharp start into a flatter region and train on (Lewkowycz
    et al. 2020). Adam-type optimizers train AT their edge and stabilize themselves there (Cohen et
    al. 2022), so for them only a spike or divergence makes "above" a "yes".
    """
    rules = [_point_rule(p, rule) for p in points]
    over = [p for p in points if p.exceeds]
    troubled = shape.diverged or shape.spiked
    later = any(p.where != "initialization" for p in over)
    if over and (troubled or (rule.sgd and later)):
        return "yes", rules
    if over and rule.sgd:
        rules.append(
            "above the limit at initialization only, and the run neither spiked nor diverged: gradient "
            "descent can leave a sharp start for a flatter region and train on (the catapult of "
            "Lewkowycz et al. 2020), so this is no proof the rate is too high -> unsure"
        )
        return "unsure", rules
    if over:
        rules.append(
            f"{rule.optimizer} is above its adaptive limit but the run neither spiked nor diverged: "
            "Adam-type optimizers train at that edge and stabilize themselves there (Cohen et al. 2022), "
            "so this is no proof the rate is too high -> unsure"
        )
        return "unsure", rules
    if points and all(p.exceeds is False for p in points):
        return "no", rules
    if not rule.sgd and not rule.adaptive:
        rules.append(f"no stability limit is known for {rule.optimizer or 'this optimizer'} -> unsure")
    return "unsure", rules


def _point_rule(p: PointSharpness, rule: StepRule) -> str:
    head = f"at {p.where} (step {p.step}, loss {p.loss:.4g}): lambda_max {p.lambda_max:.4g}"
    if not p.converged:
        head += " (Lanczos not converged: a lower bound)"
    if rule.sgd and p.largest_stable_rate is not None:
        verdict = {True: "above", False: "within", None: "not decided"}[p.exceeds]
        return (
            f"{head}; {rule.optimizer} limit {rule.formula()} = {p.largest_stable_rate:.4g}, "
            f"learning rate {rule.learning_rate:g} -> {verdict}"
        )
    if p.preconditioned is not None and p.threshold is not None:
        verdict = {True: "above", False: "within", None: "not decided"}[p.exceeds]
        return (
            f"{head}; preconditioned sharpness lambda_max(P^-1 H) {p.preconditioned:.4g} against "
            f"{rule.adaptive_formula()} = {p.threshold:.4g} -> {verdict}"
            + (f" (largest stable rate about {p.largest_stable_rate:.3g})" if p.largest_stable_rate else "")
        )
    plain = (
        f", plain-gradient-descent limit 2 / lambda_max = {2 / p.lambda_max:.4g}" if p.lambda_max > 0 else ""
    )
    return f"{head}{plain}; {p.note or 'not decided'}"


def _training_record(ctx: ProbeContext) -> TrainingRecord:
    """The user's run (trained once per context); a run that diverged still leaves its record."""
    with contextlib.suppress(TrainingDiverged):
        ctx.trained()
    record = ctx.record()
    if record.optimizer is None or not record.step_losses:
        raise ProbeError("the training run recorded no steps: nothing to measure the learning rate on")
    return record


def learning_rate_probe(
    ctx: ProbeContext, *, samples: int = 1024, max_hvp: int = 40, tolerance: float = 1e-2
) -> ProbeOutcome:
    started = time.perf_counter()
    for name, ok, need in (
        ("samples", samples >= 1, "at least 1"),
        ("max_hvp", max_hvp >= 2, "at least 2"),
        ("tolerance", tolerance > 0, "positive"),
    ):
        if not ok:  # checked before anything trains
            value = {"samples": samples, "max_hvp": max_hvp, "tolerance": tolerance}[name]
            raise ProbeError(f"{name} must be {need} (got {value})", field=name)
    setup = ctx.setup
    record = _training_record(ctx)
    rule = StepRule.of(record.optimizer)
    shape = run_shape(record)
    targets = points_to_measure(record)
    points = []
    for i, (where, snapshot) in enumerate(targets):
        ctx.progress(ProbeProgress(probe="learning_rate", done=i, total=len(targets), message=where))
        points.append(
            measure_point(
                setup,
                setup.depth,
                where,
                snapshot,
                rule,
                record.optimizer_names,
                samples=samples,
                max_hvp=max_hvp,
                tolerance=tolerance,
                should_stop=ctx.should_stop,
            )
        )
    answer, rules = decide(points, rule, shape)
    rates = [p.largest_stable_rate for p in points if p.largest_stable_rate is not None]
    limit = min(rates) if rates else None
    suggested = None if limit is None else 0.5 * limit
    answers: dict[str, AnswerValue] = {"learning_rate_exceeds_stability": answer}
    if shape.diverged:
        answers["loss_diverged"] = "yes"
    summary = _summary(answer, rule, points, limit, suggested, shape)
    data = {
        "optimizer": asdict(rule),
        "points": [asdict(p) for p in points],
        "largest_stable_rate": limit,
        "suggested_rate": suggested,
        "run": asdict(shape),
        "trouble_step": record.trouble_step,
        "steps_recorded": len(record.step_losses),
        "samples": samples,
    }
    return ProbeOutcome(
        probe="learning_rate",
        answers=answers,
        summary=summary,
        rules=[*shape.reasons, *rules],
        data=data,
        warnings=[f"{p.where}: {p.note}" for p in points if p.note],
        seconds=time.perf_counter() - started,
    )


def _summary(
    answer: AnswerValue,
    rule: StepRule,
    points: list[PointSharpness],
    limit: float | None,
    suggested: float | None,
    shape: RunShape,
) -> str:
    lr = rule.learning_rate
    run = (
        "diverged"
        if shape.diverged
        else "spiked"
        if shape.spiked
        else "plateaued"
        if shape.plateaued
        else "ran"
    )
    where = ", ".join(f"{p.where} lambda_max {p.lambda_max:.4g}" for p in points) or "no point measured"
    if answer == "yes" and limit is not None and suggested is not None:
        return (
            f"The learning rate {lr:g} is above the largest stable rate {limit:.3g} "
            f"({rule.optimizer}; measured at {where}); try {suggested:.3g} or lower. The run {run}."
        )
    if answer == "no":
        return f"The learning rate {lr:g} is within the stability limit {limit:.3g} at every measured point ({where})."
    return f"Learning-rate stability not decided for {rule.optimizer} at {lr} ({where}); the run {run}."
