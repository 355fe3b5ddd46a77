"""Turning a probe's or a history's outcome into session answers, with their evidence attached."""

from __future__ import annotations

from assistant.models import Answer, AnswerInput, AnswerSource, Evidence
from assistant.session import Session
from probes.base import ProbeOutcome


def outcome_evidence(outcome: ProbeOutcome, source: AnswerSource) -> Evidence:
    return Evidence(
        source=source,
        probe=outcome.probe,
        summary=outcome.summary,
        rules=list(outcome.rules),
        data=dict(outcome.data),
        warnings=list(outcome.warnings),
    )


def apply_outcome(
    session: Session, outcome: ProbeOutcome, source: AnswerSource = AnswerSource.probe
) -> list[str]:
    """Record the outcome's answers; the user's own answers win. Returns the questions answered.

    Measurements may answer questions off the current path (the curvature probe answers three at
    once); they are kept, inactive, until the path reaches them.
    """
    evidence = outcome_evidence(outcome, source)
    current = session.current_answers()
    answered: list[str] = []
    for question, value in outcome.answers.items():
        mine = current.get(question)
        if mine is not None and mine.source == AnswerSource.user and mine.value != "unsure":
            # the user wins; the measurement is kept beside their answer so the report can say
            # how it disagreed (Report.disagreements), instead of dropping it silently
            if value != mine.value:
                session.inputs.append(
                    AnswerInput(
                        answer=Answer(question=question, value=value, source=source, evidence=evidence)
                    )
                )
            session.notes.append(
                f"{outcome.probe} measured {question} = {value}; your answer {mine.value!r} was kept"
            )
            continue
        session.answer(question, value, source=source, evidence=evidence, replace=True, strict=False)
        answered.append(question)
    session.notes.extend(f"{outcome.probe}: {w}" for w in outcome.warnings)
    return answered
