"""The curvature probe: where the user's training stopped, is it a critical point, and which kind?

Measures on the model trained once with the user's recipe (`ProbeContext.trained()`): the gradient
norm, lambda_max and lambda_min of the TRUE Hessian, the minimum ratio, a saddle's escape direction
and the learning rate against the stability limit. Answers `gradient_norm_small`,
`hessian_negative_eigenvalue` and `learning_rate_exceeds_stability`; every threshold is an option and
appears, with its numbers, in the outcome's rules.
"""

from __future__ import annotations

import time

import torch

from probes.base import AnswerValue, ProbeError, ProbeOutcome
from probes.context import ProbeContext
from probes.hessian import GRAPH_MODES
from probes.measure import (
    GOAL_DEFAULTS,
    GOALS,
    CurvatureMeasurement,
    measure_curvature,
    parse_samples,
    validate_options,
)
from probes.setup import Setup
from probes.stability import StepRule
from probes.training import TrainedModel
from rules.judgements import GRADIENT_ZERO, NEGATIVE_FRACTION, gradient_small


def curvature_probe(
    ctx: ProbeContext,
    *,
    samples: int | str = 2048,
    mode: str = "eval",
    gradient_threshold: float = GRADIENT_ZERO,
    negative_threshold: float = NEGATIVE_FRACTION,
    max_hvp: int | None = None,
    exact_limit: int | None = None,
    tolerance: float | None = None,
    batch_size: int | None = None,
    goal: str = "decide",
    graph: str = "auto",
    per_layer: bool = False,
    density: bool = False,
) -> ProbeOutcome:
    """The probe as the diagnosis runs it: `goal="decide"` by default (stop when the flowchart's
    question is settled); `traindoc probe curvature` passes `goal="accurate"` (registry)."""
    started = time.perf_counter()
    # measure_curvature checks these too; checking first means a bad option costs no training run
    if goal not in GOALS:
        raise ProbeError(f"goal must be one of {', '.join(GOALS)} (got {goal!r})", field="goal")
    defaults = GOAL_DEFAULTS[goal]
    validate_options(
        mode,
        gradient_threshold,
        negative_threshold,
        defaults.max_hvp if max_hvp is None else max_hvp,
        defaults.exact_limit if exact_limit is None else exact_limit,
        defaults.tolerance if tolerance is None else tolerance,
    )
    parse_samples(samples)
    if batch_size is not None and batch_size <= 0:
        raise ProbeError(f"batch_size must be positive (got {batch_size})", field="batch_size")
    if graph not in GRAPH_MODES:
        raise ProbeError(f"graph must be one of {', '.join(GRAPH_MODES)} (got {graph!r})", field="graph")
    trained = ctx.trained()  # trains once per context; every probe shares it
    setup = ctx.setup
    m = measure_curvature(
        trained.model,
        setup.loss,
        setup.train,
        samples=samples,
        mode=mode,
        gradient_threshold=gradient_threshold,
        negative_threshold=negative_threshold,
        max_hvp=max_hvp,
        exact_limit=exact_limit,
        tolerance=tolerance,
        # in train mode batch norm normalizes per batch: measure on batches of the size it trained with
        batch_size=batch_size or (setup.batch_size if mode == "train" else None),
        goal=goal,
        graph=graph,
        per_layer=per_layer,
        density=density,
        optimizer=step_rule(setup, trained),
        seed=setup.seed,
        progress=ctx.progress,
        should_stop=ctx.should_stop,
    )
    data = m.to_dict()
    data.update(
        depth=trained.depth,
        seed=trained.seed,
        trained_loss=trained.final_train_loss,
        training_seconds=trained.seconds,
    )
    return ProbeOutcome(
        probe="curvature",
        answers=answers(m),
        summary=summary(m),
        rules=m.rules,
        data=data,
        warnings=m.warnings,
        seconds=time.perf_counter() - started,
    )


def step_rule(setup: Setup, trained: TrainedModel) -> StepRule:
    """The user's optimizer class and hyper-parameters, read from a throwaway instance.

    `TrainedModel` keeps only the learning rate; the optimizer factory is called once more on a
    single dummy parameter to learn the class, momentum and weight decay (no model state is touched).
    """
    dummy = torch.nn.Parameter(torch.zeros(1))
    try:
        optimizer = setup.optimizer([dummy])
    except Exception:
        return StepRule(None, trained.learning_rate)
    if not isinstance(optimizer, torch.optim.Optimizer):
        return StepRule(None, trained.learning_rate)
    return StepRule.of(optimizer, trained.learning_rate)


def _yes_no(value: bool | None) -> AnswerValue:
    return "unsure" if value is None else ("yes" if value else "no")


def answers(m: CurvatureMeasurement) -> dict[str, AnswerValue]:
    return {
        "gradient_norm_small": gradient_small(m.gradient_norm, m.gradient_threshold).verdict,
        "hessian_negative_eigenvalue": _yes_no(m.hessian_negative),
        "learning_rate_exceeds_stability": _yes_no(m.stability["exceeds"]),
    }


def summary(m: CurvatureMeasurement) -> str:
    eig = f"lambda_max {m.lambda_max:.4g}, lambda_min {m.lambda_min:.4g}"
    if not m.lambda_min_computed:
        eig = f"lambda_max {m.lambda_max:.4g}; lambda_min not needed, not computed"
    grad = f"gradient norm {m.gradient_norm:.3g}"
    head = {
        "not_at_critical_point": f"Not at a critical point: {grad} >= {m.gradient_threshold:g} ({eig}).",
        "saddle_point": f"Saddle point: {grad} < {m.gradient_threshold:g} and {eig} < 0.",
        "local_minimum_like": f"Local-minimum-like: {grad} < {m.gradient_threshold:g} and no clearly "
        f"negative eigenvalue ({eig}).",
        "undetermined": f"Critical point of unknown kind: {grad} < {m.gradient_threshold:g}, but Lanczos "
        f"did not converge and found no negative curvature yet ({eig}).",
    }[m.classification]
    parts = [head]
    if m.escape is not None:
        best = m.escape.best
        if m.escape.lowers_loss:
            parts.append(
                f"Stepping {best.distance:g} along the lambda_min eigenvector lowers the loss from "
                f"{m.escape.base_loss:.4g} to {best.loss:.4g}."
            )
        else:
            parts.append("Steps along the lambda_min eigenvector did not lower the loss.")
    exceeds = m.stability["exceeds"]
    if exceeds:
        parts.append(
            f"The learning rate {m.stability['learning_rate']:g} exceeds the stability limit "
            f"{m.stability['limit']:.3g}."
        )
    return " ".join(parts)
