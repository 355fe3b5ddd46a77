"""The curvature probe: where the user's training stopped, is it a critical point, and which kind?

Measures on the model trained once with the user's recipe (`ProbeContext.trained()`): the gradient
norm, lambda_max and lambda_min of the TRUE Hessian, the minimum ratio, a saddle's escape direction
and the learning rate against the stability limit. Answers `gradient_norm_small`,
`hessian_negative_eigenvalue` and `learning_rate_exceeds_stability`; every threshold is an option and
appears, with its numbers, in the outcome's rules.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from probes.base import AnswerValue, ProbeOutcome
from probes.context import ProbeContext
from probes.curvature.measure import CurvatureMeasurement, measure_curvature
from probes.curvature.options import CurvatureOptions
from probes.setup import Setup
from probes.stability import StepRule
from probes.training import TrainedModel
from rules.judgements import gradient_small


def curvature_probe(ctx: ProbeContext, options: CurvatureOptions | None = None, **given: Any) -> ProbeOutcome:
    """The probe as the diagnosis runs it: `goal="decide"` by default (stop when the flowchart's
    question is settled); `traindoc probe curvature` passes `goal="accurate"` (the option's
    `explicit_default`). `given`: any `CurvatureOptions` field by name, on top of `options`."""
    started = time.perf_counter()
    # checked before training: a bad option costs no training run
    if (
        "executor" not in given
        and not ctx.executor.is_local
        and (options is None or options.executor == "local")
    ):
        # the diagnosis's --executor (ProbeContext.executor): the products go to Ray too
        given = {
            **given,
            "executor": ctx.executor.ray_address,
            "workers": given.get("workers", ctx.executor.workers),
        }
    opts = CurvatureOptions.of(options, **given)
    opts.validate()
    if opts.distributed:  # joined before training: a launch without torchrun fails at once
        from probes.curvature.distributed import broadcast_model, init_from_environment

        init_from_environment()
    trained = ctx.trained()  # trains once per context; every probe shares it
    setup = ctx.setup
    if opts.distributed:  # every rank trained the recipe; all measure rank 0's model
        broadcast_model(trained.model)
    m = measure_curvature(
        trained.model,
        setup.loss,
        setup.train,
        opts,
        # in train mode batch norm normalizes per batch: measure on batches of the size it trained with
        batch_size=opts.batch_size or (setup.batch_size if opts.mode == "train" else None),
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
