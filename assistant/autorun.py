"""The fully automatic diagnosis: walk the flowchart, measuring each question's answer on the setup.

While some question on the path is pending and the probe that measures it has not run yet, run that
probe and record its outcome (`apply_outcome`: the user's own answers win). Only the probes the path
reaches run, each at most once; they share one `ProbeContext`, so the user's model is trained once
and every other result (baselines, the depth ladder) is reused.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.evidence import apply_outcome
from assistant.session import Session
from probes.base import ProbeCancelled, ProbeError, ProbeOutcome, ProbeProgress, TrainingDiverged
from probes.context import ProbeContext
from probes.registry import PROBES, probe_for, run_probe


def next_probe(session: Session, tried: set[str]) -> tuple[str, str] | None:
    """The first pending question a not-yet-tried probe can measure, as (probe, question)."""
    for question in session.report().pending:
        name = question.probe or probe_for(question.id)
        if name in PROBES and name not in tried:
            return name, question.id
    return None


def run_automatic(
    session: Session, ctx: ProbeContext, *, should_stop: Callable[[], bool] | None = None
) -> list[ProbeOutcome]:
    """Run the probes the path needs, in flowchart order; returns their outcomes.

    A probe that cannot run on this setup (ProbeError) leaves a note in `session.notes` and its
    questions pending; the walk goes on with what it can measure. Cancellation (`should_stop` or the
    context's own) raises ProbeCancelled between probes and inside training.
    """

    def stopped() -> bool:
        return bool(should_stop and should_stop()) or ctx.should_stop()

    tried: set[str] = set()
    outcomes: list[ProbeOutcome] = []
    while (step := next_probe(session, tried)) is not None:
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
            outcome = run_probe(name, ctx)
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
        apply_outcome(session, outcome)
        outcomes.append(outcome)
    return outcomes


def diverged_outcome(exc: TrainingDiverged) -> ProbeOutcome:
    """Training the user's own model diverged: the loss is not small, and the run is unstable."""
    return ProbeOutcome(
        probe="training",
        answers={"loss_diverged": "yes", "train_loss_large": "yes"},
        summary=f"Training your model with your recipe diverged: {exc.message}.",
        rules=["a training loss that turns NaN or infinite means the run diverged and the loss is not small"],
        data={"error": exc.message},
    )
