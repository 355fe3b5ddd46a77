"""Issue 17 in the TUI: "try it" on a finding card trains the lecture's remedies on the loaded demo
and shows before/after; the export carries them.

Ground truth (probes/demos.py, closed form): the saddle_point demo is y = w1*w2*x with x = ±1, y = x,
started at w = (0, 0), so the loss is L = (1 - w1 w2)^2 = 1 there and the gradient is exactly zero:
plain SGD never moves (before: 1.0). An escape step along the Hessian's negative-curvature direction
(1, -1)/√2 ... or (1, 1)/√2 leaves the saddle and training reaches w1 w2 = 1, L = 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button

from probes.remedies.result import CurvePoint, Losses, RemedyReport, RemedyResult
from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.export import export_report
from tui.screens.remedies import RemediesScreen, before_after_curves
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.finding_card import FindingCard

PROBE_WAIT_S = 300.0  # two shared cores; the remedies of the saddle demo take ~10 s alone


def _parses(folder: Path) -> bool:
    try:
        json.loads(next(folder.glob("*.json")).read_text())
    except (StopIteration, ValueError):
        return False
    return True


async def _answer_to_saddle(pilot, app: TraindocApp) -> None:  # type: ignore[no-untyped-def]
    # the flowchart's path to a saddle point, answered by hand: training loss large, the deeper model
    # worse (optimization), gradient small, a negative Hessian eigenvalue
    for qid in (
        "train_loss_large",
        "deeper_model_worse",
        "gradient_norm_small",
        "hessian_negative_eigenvalue",
    ):
        assert app.chat.current is not None and app.chat.current.id == qid
        await pilot.press("y")
        await idle(pilot)


@pytest.mark.slow
async def test_try_it_on_the_saddle_card_measures_the_escape(
    make_app: Callable[..., TraindocApp], tmp_path: Path
) -> None:
    app = make_app("demo:saddle_point")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        assert not app.chat.check_action("try_remedies", ())  # no finding to treat yet
        await _answer_to_saddle(pilot, app)
        cards = {c.finding.id: c for c in app.screen.query(FindingCard)}
        assert "saddle_point" in cards
        assert app.chat.remedy_target() == "saddle_point"
        button = cards["saddle_point"].query_one(".card-try", Button)
        await pilot.click(f"#{button.id}")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the remedies job to start")
        assert app.chat.job.probe == "remedies"  # type: ignore[union-attr]
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the remedies probe")
        await wait_for(pilot, lambda: isinstance(app.screen, RemediesScreen), what="the remedies screen")
        rr = app.screen.report  # type: ignore[attr-defined]
        assert rr.findings == ["saddle_point"] and rr.metric == "train"
        assert rr.baseline.train == pytest.approx(1.0)  # L(0, 0) = 1, the closed form
        escape = next(r for r in rr.remedies if r.id == "escape_step")
        escape_title = escape.title
        assert escape.status == "helps" and escape.after.train == pytest.approx(0.0, abs=1e-6)
        assert not rr.nothing_helps and rr.best
        # the screen composes its plot after it is pushed: wait for it (a loaded machine lags)
        await wait_for(pilot, lambda: bool(app.screen.query("#remedies-plot")), what="the before/after plot")
        plot = app.screen.query_one("#remedies-plot", CurvePlot)
        assert "before (your setup)" in plot.curves and "escape_step" in plot.curves
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RemediesScreen), what="the screen to close")
        app.chat.action_export(tmp_path / "out")
        # the JSON is written last: done when it parses (a glob alone can see it half written)
        await wait_for(pilot, lambda: _parses(tmp_path / "out"), what="the export")
    document = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert document["remedies"][0]["findings"] == ["saddle_point"]
    markdown = next((tmp_path / "out").glob("*.md")).read_text()
    assert "Remedies tried on your setup" in markdown and f"| {escape_title} |" in markdown


async def test_no_try_it_without_a_setup(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await _answer_to_saddle(pilot, app)
        cards = {c.finding.id: c for c in app.screen.query(FindingCard)}
        assert "saddle_point" in cards
        assert not cards["saddle_point"].query(".card-try")
        assert not app.chat.check_action("try_remedies", ())
        await pilot.press("t")  # refused by check_action: nothing starts
        await pilot.pause()
        assert app.chat.job is None


def _report(nothing: bool) -> RemedyReport:
    curve = [CurvePoint(step=s, train=1.0) for s in (0, 10)]
    after = [CurvePoint(step=s, train=v) for s, v in ((0, 1.0), (10, 0.1))]
    tried = RemedyResult(
        id="adam",
        title="Adam",
        status="no_change" if nothing else "helps",
        curve=after,
        before=Losses(train=1.0),
        after=Losses(train=1.0 if nothing else 0.1),
    )
    advice = RemedyResult(id="dropout", title="Dropout", status="not_tried", curve=after)
    return RemedyReport(
        setup="demo",
        findings=["optimization_issue"],
        metric="train",
        baseline=Losses(train=1.0),
        baseline_seconds=1.0,
        baseline_curve=curve,
        remedies=[tried, advice],
        best=None if nothing else "adam",
        recommendation="Nothing helped." if nothing else "Adam.",
        nothing_helps=nothing,
        cost_runs=2.0,
        seconds=2.0,
    )


def test_before_after_curves_leave_out_what_was_not_tried() -> None:
    curves = before_after_curves(_report(False))
    assert curves == {"before (your setup)": [(0.0, 1.0), (10.0, 1.0)], "adam": [(0.0, 1.0), (10.0, 0.1)]}


async def test_the_screen_says_when_nothing_helps() -> None:
    from textual.app import App
    from textual.widgets import Static

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RemediesScreen(_report(True), "Optimization issue"))

    async with Host().run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert "Nothing I tried helps" in str(
            pilot.app.screen.query_one("#remedies-verdict", Static).render()
        )


def test_export_without_remedies_keeps_the_report_json(tmp_path: Path) -> None:
    from assistant.models import Report

    report = Report.model_validate(
        {"session_id": "s1", "answers": {}, "pending": [], "findings": [], "complete": False}
    )
    done = export_report(report, tmp_path)
    assert "remedies" not in json.loads(done.json.read_text())
    done = export_report(report, tmp_path, remedies=[_report(True)])
    assert json.loads(done.json.read_text())["remedies"][0]["nothing_helps"] is True
