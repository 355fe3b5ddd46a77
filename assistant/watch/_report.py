"""The end of a watched run: the diagnosis (the same history analysis as `traindoc history`, plus the
run's own curvature), the report files, the stored session and the optional upload to a service.

Files in the run's output directory:
  history.jsonl   every logged point (`traindoc history history.jsonl` reads it back)
  report.json     WatchReport: alerts, sharpness series, end point, answers, findings, session id
  report.md       the same for people
  curves.svg      training and held-out losses; sharpness.svg lambda_max against its threshold
"""

from __future__ import annotations

import json
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assistant.evidence import apply_outcome
from assistant.models import AnswerSource, Report
from assistant.session import Session
from probes.base import AnswerValue, ProbeOutcome
from probes.history import History, history_outcome, outcome_of
from probes.history._load import load_curves
from probes.live import EndPoint, Sharpness
from rules.judgements import gradient_small

if TYPE_CHECKING:
    from assistant.watch._run import Run


class WatchReport(BaseModel):
    """What `Run.finish()` returns and writes to report.json."""

    run: str
    framework: str
    steps: float
    seconds: float = Field(description="wall time from the start of watching to the end of the report")
    training_seconds: float = Field(description="wall time not spent in traindoc")
    traindoc_seconds: float
    curvature_seconds: float
    overhead: float = Field(description="traindoc_seconds / training_seconds")
    curvature_budget: float | None = Field(
        None,
        description="the share of the training time the curvature measurements may take, step 0 and the "
        "end point included (the default cadence); None with a fixed curvature_every or curvature off",
    )
    curvature_share: float = Field(0.0, description="curvature_seconds / training_seconds")
    alerts: list[dict[str, Any]]
    sharpness: list[dict[str, Any]]
    end_point: dict[str, Any] | None
    answers: dict[str, AnswerValue] = Field(description="what the run measured, by question id")
    summary: str
    rules: list[str]
    report: Report = Field(description="the session's report: findings and open questions")
    session_id: str | None = Field(None, description="in the local store: `traindoc --resume` opens it")
    server_session_id: str | None = None
    stream: dict[str, Any] | None = Field(
        None,
        description="with server=: points_sent / points_dropped while training, requests, failures, error",
    )
    notes: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)

    @property
    def findings(self) -> list[str]:
        return [f.id for f in self.report.findings]


# -- the diagnosis ----------------------------------------------------------------------------------


def write_history(run: Run, path: Path) -> list[tuple[str, list[float], list[float]]]:
    """One JSON record per step, all curves of that step together (NaN/inf written as null); returns
    the curves written, which the diagnosis reads as `traindoc history` reads the file back
    (`load_curves`). Each line is what json.dumps gives for the record (floats by repr, keys escaped
    once per curve), without its per-record cost."""
    curves = run.live.curve_points()
    if any(len(set(steps)) != len(steps) for _, steps, _ in curves):
        # a curve logged twice at one step: the last value wins, at the place of the first
        lines = ["{" + ", ".join(row) + "}\n" for _, row in sorted(_rows_last_wins(curves).items())]
    else:
        lines = [row + "}\n" for row in _rows(curves)]
    path.write_text("".join(lines), encoding="utf-8")
    return curves


def _rows(curves: list[tuple[str, list[float], list[float]]]) -> list[str]:
    """The records' text (without the closing brace), one per step in step order, built a curve at
    a time: a curve at every step joins the rows column-wise, a sparser one by each point's row
    (the point-by-point dict of `_rows_last_wins` was half the end of a 4,000-step run)."""
    steps_all = sorted(set().union(*(steps for _, steps, _ in curves)))
    rows = ['{"step": ' + repr(float(step)) for step in steps_all]
    where: dict[float, int] | None = None
    for name, steps, values in curves:
        key = ", " + json.dumps(name) + ": "
        texts = [key + text for text in _texts(values)]
        if steps == steps_all:
            rows = [row + text for row, text in zip(rows, texts, strict=True)]
            continue
        where = where or dict(zip(steps_all, range(len(steps_all)), strict=True))
        for step, text in zip(steps, texts, strict=True):
            i = where[step]
            rows[i] += text
    return rows


def _texts(values: list[float]) -> list[str]:
    """Each value as json.dumps writes it (repr; null for NaN/inf). A float's repr costs ~1 us here:
    a curve of few distinct values (a constant learning rate) is written from one repr each."""
    if not math.isfinite(sum(values)):
        return [repr(v) if math.isfinite(v) else "null" for v in values]
    distinct = set(values)
    if 2 * len(distinct) > len(values):
        return list(map(repr, values))
    memo = {v: repr(v) for v in distinct}
    return [memo[v] for v in values]


def _rows_last_wins(curves: list[tuple[str, list[float], list[float]]]) -> dict[float, list[str]]:
    rows: dict[float, dict[str, str]] = {}
    for name, steps, values in curves:
        key = json.dumps(name)
        for step, value in zip(steps, values, strict=True):
            row = rows.get(step)
            if row is None:
                row = rows[step] = {'"step"': repr(float(step))}
            row[key] = repr(value) if math.isfinite(value) else "null"
    return {step: [f"{k}: {v}" for k, v in row.items()] for step, row in rows.items()}


def _yes_no(value: bool | None) -> AnswerValue:
    return "unsure" if value is None else ("yes" if value else "no")


# Above the threshold by this factor at any measurement counts, even if the run later moved to a
# flatter region (a catapult); at the edge of stability gradient descent hovers within a few percent
# of the threshold while still training, which is not a learning rate "too large" by itself.
CLEARLY_ABOVE = 1.2


def stability_answer(series: list[Sharpness]) -> tuple[AnswerValue, str]:
    """learning_rate_exceeds_stability over the run: yes when a measurement was clearly above the
    threshold, or the last one was above; no when the last (converged) one was below; else unsure."""
    judged = [s for s in series if s.threshold is not None]
    last = judged[-1]
    clear = [s for s in judged if s.exceeds and (s.ratio or 0) >= CLEARLY_ABOVE]
    peak = max(judged, key=lambda s: s.ratio or 0)
    what = "preconditioned lambda_max" if last.preconditioned else "lambda_max"
    head = (
        f"{what} on the held batch against the {last.kind.upper()} threshold, {len(judged)} measurements; "
        f"highest {peak.lambda_max:.4g} = {peak.ratio or 0:.2f}x of {peak.threshold:.4g} at step {peak.step:g}, "
        f"last {last.lambda_max:.4g} = {last.ratio or 0:.2f}x at step {last.step:g}"
    )
    if clear:
        return (
            "yes",
            f"{head}: above it by {CLEARLY_ABOVE:g}x or more at step {clear[0].step:g}: learning_rate_exceeds_stability = yes",
        )
    if last.exceeds:
        return "yes", f"{head}: above it at the end: learning_rate_exceeds_stability = yes"
    if last.exceeds is False:
        return (
            "no",
            f"{head}: below it (converged) and never clearly above: learning_rate_exceeds_stability = no",
        )
    return (
        "unsure",
        f"{head}: not decided (Lanczos lower bound below the threshold, or Adam before its preconditioner warmed up)",
    )


def _lambda_min_text(end: EndPoint) -> str:
    if end.lambda_min_needed:
        return f"lambda_min {end.lambda_min:.4g}"
    return "lambda_min not measured (not needed away from a critical point)"


def _end_how(end: EndPoint) -> str:
    if end.settled:
        return f"stopped when decided: {end.settled}"
    return (
        "converged"
        if end.converged
        else ("lambda_max converged" if end.lambda_max_converged else "not converged")
    )


def curvature_outcome(run: Run) -> ProbeOutcome | None:
    """The flowchart's curvature questions, answered about the run's own model at its end."""
    last = run.sharpness[-1] if run.sharpness else None
    end = run.end
    if last is None and end is None:
        return None
    answers: dict[str, AnswerValue] = {}
    rules: list[str] = []
    if last is not None and last.threshold is not None:
        value, rule = stability_answer(run.sharpness)
        answers["learning_rate_exceeds_stability"] = value
        rules.append(rule)
    if end is not None:
        answers["gradient_norm_small"] = gradient_small(end.gradient_norm, end.gradient_threshold).verdict
        # the flowchart asks about negative curvature only at a critical point; away from one the end
        # point does not measure lambda_min (goal "decide"), so it has nothing to answer unless a
        # clearly negative Ritz value turned up anyway (proof by interlacing)
        if end.lambda_min_needed or end.hessian_negative is not None:
            answers["hessian_negative_eigenvalue"] = _yes_no(end.hessian_negative)
        rules.append(
            f"at the end (step {end.step:g}): gradient norm {end.gradient_norm:.3g} "
            f"{'<' if end.gradient_norm < end.gradient_threshold else '>='} {end.gradient_threshold:g}, "
            f"lambda_max {end.lambda_max:.4g}, {_lambda_min_text(end)} "
            f"({_end_how(end)}, {end.hvp} products): {end.classification}"
        )
    summary = (
        f"End point: {end.classification.replace('_', ' ')} (gradient norm {end.gradient_norm:.3g}"
        + (f", lambda_min {end.lambda_min:.3g})." if end.lambda_min_needed else ").")
        if end is not None
        else ""
    )
    return ProbeOutcome(
        probe="watch",
        answers=answers,
        summary=summary,
        rules=rules,
        data={
            "sharpness": [s.to_dict() for s in run.sharpness],
            "end_point": end.to_dict() if end else None,
        },
    )


def diagnose(
    run: Run,
    history_file: Path,
    curves: list[tuple[str, list[float], list[float]]] | None = None,
    loaded: History | None = None,
) -> tuple[list[ProbeOutcome], Session]:
    """The history's answers are those of `traindoc history history.jsonl`: from the curves written
    there (`load_curves`, the reader's own builder; or the History it built, `loaded`) rather than by
    parsing the file again (tests/watch check both agree), then the run's own curvature."""
    if loaded is not None:
        # the final analysis (Run.finish) read these same curves unless a NaN or a role differs
        history = outcome_of(loaded, run.options, analysis=run.live.analysis_of(loaded, run.options))
    elif curves is None:
        history = history_outcome(
            str(history_file),
            classes=run.options.classes,
            baseline=run.options.baseline,
            patience=run.options.patience,
        )
    else:
        history = outcome_of(load_curves(curves, str(history_file)), run.options)
    outcomes = [history]
    curvature = curvature_outcome(run)
    if curvature is not None:
        outcomes.append(curvature)
    # a random id, like the service's: the engine must never see a user-chosen id (stack notes)
    session = Session(secrets.token_urlsafe(18), [])
    apply_outcome(session, history, AnswerSource.history)
    if curvature is not None:
        apply_outcome(session, curvature, AnswerSource.probe)
    session.notes.append(f"watched run {run.name} ({run.framework}), report in {run.output_dir}")
    session.notes.extend(n for n in run.notes if n not in session.notes)
    return outcomes, session


# -- where the diagnosis goes -----------------------------------------------------------------------


def save_session(session: Session, db_path: str | Path | None, setup: str | None = None) -> str:
    """Write the session to the local store (the one `traindoc --resume` reads)."""
    from assistant import store as ops
    from assistant.api.settings import default_db_path
    from assistant.store import SessionRecord, Store

    session_id = session.id
    if session_id is None:  # the watch names every session it builds; a bare Session() has no store key
        raise ValueError("save_session: the session has no id")
    stamp = ops.now()
    record = SessionRecord(session_id, stamp, stamp, setup, None)
    report = session.report()
    store = Store(db_path or default_db_path()).open()
    try:
        store.write(
            [
                ops.insert_session(record),
                ops.append_inputs(session_id, 0, session.inputs),
                ops.append_notes(session_id, 0, session.notes),
                ops.touch_session(session_id, stamp, [f.id for f in report.findings], report.complete),
            ]
        )
    finally:
        store.close()
    return session_id


def upload(run: Run, outcomes: list[ProbeOutcome], notes: list[str]) -> str:
    """A new session on a running service with the run's outcomes as evidence; returns its id."""
    from assistant.client import TraindocClient, default_token

    with TraindocClient(run.server or "", token=run.token or default_token()) as client:
        streamed = run.streamer.session_id if run.streamer is not None else None
        session = client.get_session(streamed) if streamed else client.create_session()
        sources = ["history"] + ["probe"] * (len(outcomes) - 1)
        for outcome, source in zip(outcomes, sources, strict=True):
            session = client.apply_outcome(session.id, outcome, source=source, notes=notes)
        return session.id


def finish_run(run: Run) -> WatchReport:
    import time

    t0 = time.perf_counter()
    out = run.output_dir
    out.mkdir(parents=True, exist_ok=True)
    history_file = out / "history.jsonl"
    curves = write_history(run, history_file)
    history = load_curves(curves, str(history_file))
    outcomes, session = diagnose(run, history_file, loaded=history)
    notes = list(session.notes)
    session_id = None
    if run.store:
        session_id = save_session(session, run.db_path)
    server_id = None
    if run.server:
        try:
            server_id = upload(run, outcomes, notes)
        except Exception as exc:  # the run is over and its report is on disk: say so, do not crash
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            notes.append(f"not sent to {run.server}: {message}")
            run.emit("warning", f"traindoc: the report was not sent to {run.server}: {message}")
    report = session.report()
    answers: dict[str, AnswerValue] = {}
    rules: list[str] = []
    for outcome in outcomes:
        answers.update(outcome.answers)
        rules += outcome.rules
    files = {"history": str(history_file)}
    files.update(_plots(run, out, history))
    files["json"], files["markdown"] = str(out / "report.json"), str(out / "report.md")
    run.own_seconds += time.perf_counter() - t0
    total = time.perf_counter() - run.started
    training = max(total - run.own_seconds, 1e-9)
    result = WatchReport(
        run=run.name,
        framework=run.framework,
        steps=run.last_step,
        seconds=total,
        training_seconds=training,
        traindoc_seconds=run.own_seconds,
        curvature_seconds=run.measure_seconds,
        overhead=run.own_seconds / training,
        curvature_budget=run.budget if run.curvature_every is None and (run.sharpness or run.end) else None,
        curvature_share=run.measure_seconds / training,
        alerts=[a.model_dump(mode="json") for a in run.alerts],
        sharpness=[_finite(s.to_dict()) for s in run.sharpness],
        end_point=_finite(run.end.to_dict()) if run.end else None,
        answers=answers,
        summary=" ".join(o.summary for o in outcomes if o.summary),
        rules=rules,
        report=report,
        session_id=session_id,
        server_session_id=server_id,
        stream=run.streamer.summary() if run.streamer is not None else None,
        notes=notes,
        files=files,
    )
    (out / "report.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    (out / "report.md").write_text(markdown(result), encoding="utf-8")
    _announce(run, result)
    return result


def _announce(run: Run, r: WatchReport) -> None:
    found = ", ".join(f.title for f in r.report.findings) or "no finding yet (open questions remain)"
    run.emit("info", f"traindoc: diagnosis: {found}")
    if r.summary:
        run.emit("info", f"traindoc: {r.summary}")
    where = f"report in {r.files['markdown']}"
    if r.session_id:
        where += "; `traindoc --resume` opens the session"
    run.emit("info", f"traindoc: {where}")


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# -- files ------------------------------------------------------------------------------------------


def _plots(run: Run, out: Path, history: History | None = None) -> dict[str, str]:
    """The curves from the History the diagnosis read (`history`; built once, not again here)."""
    from assistant.plots import PlotCurve, svg_plot
    from probes.history import plotted_series

    files: dict[str, str] = {}
    series = plotted_series(history if history is not None else run.live.history())
    if series:
        curves = [PlotCurve(s.name, *envelope(s.steps, s.values)) for s in series]
        (out / "curves.svg").write_text(svg_plot(curves, title=f"{run.name}: losses"), encoding="utf-8")
        files["curves"] = str(out / "curves.svg")
    if run.sharpness:
        steps = [s.step for s in run.sharpness]
        curves = [PlotCurve("lambda_max", steps, [s.lambda_max for s in run.sharpness])]
        if any(s.threshold is not None for s in run.sharpness):
            curves.append(
                PlotCurve(
                    "threshold",
                    steps,
                    [math.nan if s.threshold is None else s.threshold for s in run.sharpness],
                )
            )
        svg = svg_plot(curves, title=f"{run.name}: sharpness", y_label="lambda_max")
        (out / "sharpness.svg").write_text(svg, encoding="utf-8")
        files["sharpness"] = str(out / "sharpness.svg")
    return files


# about the plot's width in pixels: more than two points a column (its lowest and highest) draw
# nothing more, and cost time at the end of a long run
PLOT_COLUMNS = 640


def envelope(
    steps: list[float], values: list[float], columns: int = PLOT_COLUMNS
) -> tuple[list[float], list[float]]:
    """The points a plot `columns` wide can show: the curve cut into `columns` runs of consecutive
    points, and of each run its lowest and highest value (spikes and dips stay), every NaN or
    infinite point, the points after the last whole run, and the first and last points; all points
    when there are few."""
    import numpy as np

    n = len(values)
    if n <= 2 * columns:
        return steps, values
    a = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(a)
    k = n // columns  # points a run
    whole = columns * k
    offsets = np.arange(columns) * k
    low = np.where(finite, a, np.inf)[:whole].reshape(columns, k).argmin(axis=1) + offsets
    high = np.where(finite, a, -np.inf)[:whole].reshape(columns, k).argmax(axis=1) + offsets
    keep = np.union1d(np.union1d(low, high), np.flatnonzero(~finite))
    keep = np.union1d(keep, np.r_[0, np.arange(whole, n)])
    order = keep.tolist()
    return [steps[i] for i in order], [values[i] for i in order]


def markdown(r: WatchReport) -> str:
    lines = [
        f"# traindoc watch: {r.run}",
        "",
        f"{r.framework}, {r.steps:g} steps, {r.seconds:.1f} s "
        f"(traindoc {r.traindoc_seconds:.2f} s, {r.overhead:.1%} of the training time; curvature "
        f"{r.curvature_seconds:.2f} s, {r.curvature_share:.1%}"
        + (
            f", budget {r.curvature_budget:.0%} with step 0 and the end point)" if r.curvature_budget else ")"
        ),
        "",
    ]
    lines += ["## Diagnosis", ""]
    lines += [
        f"- **{f.title}**: {f.explanation}" if getattr(f, "explanation", "") else f"- **{f.title}**"
        for f in r.report.findings
    ] or ["- no finding yet: open questions remain"]
    if r.summary:
        lines += ["", r.summary]
    lines += ["", "## Answers measured", ""] + [f"- `{q}`: {v}" for q, v in r.answers.items()]
    lines += ["", "## Alerts during the run", ""]
    lines += [f"- step {a['step']}: {a['message']}" for a in r.alerts] or ["- none"]
    if r.sharpness:
        lines += [
            "",
            "## Sharpness",
            "",
            "| step | lambda_max | threshold | ratio | converged |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {s['step']:g} | {s['lambda_max']:.4g} | {_num(s['threshold'])} | {_num(s['ratio'])} | {s['converged']} |"
            for s in r.sharpness
        ]
    if r.end_point:
        e = r.end_point
        lines += [
            "",
            "## Where the run ended",
            "",
            f"{e['classification']}: gradient norm {e['gradient_norm']:.3g}, lambda_max {e['lambda_max']:.4g}, "
            + (
                f"lambda_min {e['lambda_min']:.4g}"
                if e.get("lambda_min_needed", True)
                else "lambda_min not measured (not needed away from a critical point)"
            )
            + f" on the held batch ({e['parameters']} parameters, {e['hvp']} Hessian-vector products)",
        ]
    lines += ["", "## Rules", ""] + [f"- {rule}" for rule in r.rules]
    if r.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r.notes]
    if r.session_id:
        lines += ["", f"Session `{r.session_id}` is in the local store: `traindoc --resume` opens it."]
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"
