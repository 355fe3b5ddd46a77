"""The fully automatic diagnosis: walk the flowchart, measuring each question's answer on the setup.

While some question on the path is pending and the probe that measures it has not run yet, run that
probe and record its outcome (`apply_outcome`: the user's own answers win). Only the probes the path
reaches run, each at most once; they share one `ProbeContext`, so the user's model is trained once
and every other result (baselines, the depth ladder) is reused.

The learning-rate check is not left to the end of the path: as soon as the user's run shows that it
diverged, spiked, or plateaued at a large loss, the `learning_rate` probe measures the sharpness at
initialization and at the last sane point. Its answer to `learning_rate_exceeds_stability` is the
one kept: the curvature probe measures only where training stopped, which after a blow-up or a
collapse (dead units) is the wrong place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from assistant.evidence import apply_outcome
from assistant.session import Session
from probes.base import ProbeCancelled, ProbeError, ProbeOutcome, ProbeProgress, TrainingDiverged
from probes.context import ProbeContext
from probes.learning_rate import run_shape
from probes.registry import PROBES, probe_for, run_probe

LEARNING_RATE = "learning_rate"
STABILITY_QUESTION = "learning_rate_exceeds_stability"


def next_probe(session: Session, tried: set[str]) -> tuple[str, str] | None:
    """The first pending question a not-yet-tried probe can measure, as (probe, question)."""
    for question in session.report().pending:
        name = question.probe or probe_for(question.id)  # rules/questions.py: the one to run first
        if name in PROBES and name not in tried:
            return name, question.id
    return None


def learning_rate_needed(session: Session, ctx: ProbeContext) -> str | None:
    """Why the learning-rate check should run now (None: no reason yet).

    The user's run diverged or spiked, or it plateaued while the training loss is large. A run that
    has not been trained yet says nothing; a clean plateau at a small loss is convergence.
    """
    record = ctx.record()
    if not record.step_losses:
        return None
    shape = run_shape(record)
    if shape.diverged:
        return "training diverged"
    if shape.spiked:
        return "the training loss spiked"
    large = session.current_answers().get("train_loss_large")
    if shape.plateaued and large is not None and large.value == "yes":
        return "training plateaued at a large loss"
    return None


def _keep_learning_rate_answer(session: Session, name: str, outcome: ProbeOutcome, tried: set[str]) -> None:
    """After the learning-rate probe ran, another probe's stability answer (measured at the end of
    training) is kept as evidence only; a disagreement is said."""
    if name == LEARNING_RATE or LEARNING_RATE not in tried or STABILITY_QUESTION not in outcome.answers:
        return
    measured = outcome.answers.pop(STABILITY_QUESTION)
    current = session.current_answers().get(STABILITY_QUESTION)
    if current is not None and current.value != measured:
        session.notes.append(
            f"{name} measured {STABILITY_QUESTION} = {measured} where training stopped; the learning-rate "
            f"probe's {current.value!r}, measured at initialization and the last sane point, is kept"
        )


def run_automatic(
    session: Session,
    ctx: ProbeContext,
    *,
    should_stop: Callable[[], bool] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ProbeOutcome]:
    """Run the probes the path needs, in flowchart order; returns their outcomes.

    A probe that cannot run on this setup (ProbeError) leaves a note in `session.notes` and its
    questions pending; the walk goes on with what it can measure. Cancellation (`should_stop` or the
    context's own) raises ProbeCancelled between probes and inside training. `options`: a probe's
    keyword options by its name (what the user set for it), the defaults for the others.
    """

    def stopped() -> bool:
        return bool(should_stop and should_stop()) or ctx.should_stop()

    tried: set[str] = set()
    outcomes: list[ProbeOutcome] = []
    while (step := _next(session, ctx, tried)) is not None:
        name, question = step
        if stopped():
            raise ProbeCancelled("automatic diagnosis")
        tried.add(name)
        ctx.progress(
            ProbeProgress(
                probe="auto", done=len(tried) - 1, total=len(tried), message=f"{name} for {question}"
            )
        )
        try:
            outcome = run_probe(name, ctx, **(options or {}).get(name, {}))
        except ProbeCancelled:
            raise
        except TrainingDiverged as exc:
            if "loss_diverged" in session.current_answers():
                session.notes.append(f"{name} probe could not run: {exc.message}; {question} is left open")
                continue
            # the user's own recipe blew up: that IS the measurement the flowchart needs first
            outcome = diverged_outcome(exc)
        except ProbeError as exc:
            session.notes.append(f"{name} probe could not run: {exc.message}; {question} is left open")
            continue
        _keep_learning_rate_answer(session, name, outcome, tried)
        apply_outcome(session, outcome)
        outcomes.append(outcome)
    return outcomes


def _next(session: Session, ctx: ProbeContext, tried: set[str]) -> tuple[str, str] | None:
    """The learning-rate check first once the run shows trouble, else the path's next probe."""
    if LEARNING_RATE not in tried and (reason := learning_rate_needed(session, ctx)) is not None:
        return LEARNING_RATE, f"{STABILITY_QUESTION} ({reason})"
    return next_probe(session, tried)


def diverged_outcome(exc: TrainingDiverged) -> ProbeOutcome:
    """Training the user's own model diverged: the loss is not small, and the run is unstable."""
    return ProbeOutcome(
        probe="training",
        answers={"loss_diverged": "yes", "train_loss_large": "yes"},
        summary=f"Training your model with your recipe diverged: {exc.message}.",
        rules=["a training loss that turns NaN or infinite means the run diverged and the loss is not small"],
        data={"error": exc.message},
    )
