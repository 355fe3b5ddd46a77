"""`traindoc.diagnose(...)`: a whole diagnosis from Python, the same walk as `traindoc diagnose`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.models import Report
    from probes.base import ProbeProgress
    from probes.setup import Setup


def diagnose(
    setup: Setup | str | None = None,
    *,
    answers: Mapping[str, str] | None = None,
    history: str | None = None,
    demo: str | None = None,
    classes: int | None = None,
    baseline: float | None = None,
    progress: Callable[[ProbeProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Report:
    """Diagnose from answers, a training history and/or measurements on a setup; return the report.

    `setup`: a `traindoc.Setup`, or a spec `"path/to/file.py:function"` / `"module:function"`.
    `answers`: question id -> "yes" | "no" | "unsure"; a user's answer wins over a measurement.
    `history`: a file, run directory or mlflow://HOST:PORT/RUN_ID. `demo`: a built-in demo's name.
    Bad input raises `traindoc.TraindocError` (or `traindoc.ProbeError` from a probe) with one line.
    """
    from assistant.errors import InputError
    from assistant.models import AnswerSource
    from assistant.session import Session

    if setup is not None and demo is not None:
        raise InputError("give either setup or demo, not both")
    session = Session()
    given = dict(answers or {})
    if setup is None and demo is None and history is None:
        session.load_answers(given)
        return session.report()
    for qid, value in given.items():  # off-path answers are kept and reported, not refused
        session.answer(qid, value, strict=False)
    if history is not None:
        from assistant.evidence import apply_outcome
        from probes.history import history_outcome

        apply_outcome(
            session, history_outcome(history, classes=classes, baseline=baseline), AnswerSource.history
        )
    if setup is not None or demo is not None:
        from assistant.autorun import run_automatic
        from probes.context import ProbeContext

        resolved = _resolve(setup, demo)
        ctx = ProbeContext(resolved, progress) if progress else ProbeContext(resolved)
        run_automatic(session, ctx, should_stop=should_stop)
    return session.report()


def _resolve(setup: Setup | str | None, demo: str | None) -> Setup:
    if demo is not None:
        from probes.demos import demo_setup

        return demo_setup(demo)
    if isinstance(setup, str):
        from probes.setup import load_setup

        return load_setup(setup)
    assert setup is not None
    return setup
