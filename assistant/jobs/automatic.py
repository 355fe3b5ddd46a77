"""The "auto" job: the whole automatic walk of the flowchart in a job's child, and its summary.

The walk itself is `assistant.autorun.run_automatic`; this module gives it a copy of the session
(rebuilt from the inputs the parent sent) and folds the outcomes into the one the job record shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assistant.jobs.protocol import AUTO
from probes.base import ProbeCancelled, ProbeOutcome

if TYPE_CHECKING:  # torch loads only in the child, when the walk runs
    from probes.context import ProbeContext


def run_auto(
    request: dict[str, Any], ctx: ProbeContext, should_stop: Callable[[], bool]
) -> tuple[list[ProbeOutcome], list[str]]:
    """Walk the flowchart on a copy of the session; return what was measured, in order, and the notes.

    The server applies these outcomes to the session as it is when the job ends (the user may have
    answered meanwhile, and user answers win), so the copy here is only the starting point.
    """
    from pydantic import TypeAdapter

    from assistant.autorun import run_automatic
    from assistant.models import SessionInput
    from assistant.session import Session

    adapter: TypeAdapter[list[SessionInput]] = TypeAdapter(list[SessionInput])
    session = Session(None, adapter.validate_python(request.get("inputs", [])))
    session.notes = list(request.get("notes", []))
    first_note = len(session.notes)
    outcomes = run_automatic(session, ctx, should_stop=should_stop, options=request.get("options") or {})
    if should_stop():
        raise ProbeCancelled(AUTO)
    return outcomes, session.notes[first_note:]


def auto_summary(outcomes: list[ProbeOutcome]) -> ProbeOutcome:
    """One outcome for the job record of an automatic walk: every probe's findings side by side."""
    answers: dict[str, Any] = {}
    for o in outcomes:
        answers.update(o.answers)
    return ProbeOutcome(
        probe=AUTO,
        answers=answers,
        summary=" ".join(o.summary for o in outcomes if o.summary) or "no probe was needed",
        rules=[rule for o in outcomes for rule in o.rules],
        data={
            "probes": [o.probe for o in outcomes],
            "outcomes": [o.model_dump(mode="json") for o in outcomes],
        },
        warnings=[w for o in outcomes for w in o.warnings],
        seconds=sum(o.seconds for o in outcomes),
    )
