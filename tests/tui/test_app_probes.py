"""Measuring from the UI: a real probe on a built-in demo runs in the background with live progress,
answers the question, can be cancelled, and the UI keeps answering keys meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button

from assistant.service_models import FINISHED
from tests.tui.conftest import UNTIL_CANCELLED, idle, ready, wait_for
from tui import TraindocApp
from tui.widgets.chat_message import ChatMessage
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.evidence_view import EvidenceView
from tui.widgets.finding_card import FindingCard
from tui.widgets.probe_panel import ProbePanel

pytestmark = pytest.mark.slow
PROBE_WAIT_S = 240.0  # two shared cores; the demos take seconds alone


def texts(app: TraindocApp) -> str:
    return "\n".join(m.source for m in app.screen.query(ChatMessage))  # type: ignore[attr-defined]


async def test_measure_it_runs_the_probe_and_answers(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app("demo:saddle_point")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        assert app.screen.query_one("#measure", Button).display
        await pilot.press("m")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        assert app.screen.query_one(ProbePanel).display
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the baselines probe")
        await idle(pilot)
        panel = app.screen.query_one(ProbePanel)
        assert not panel.display
        assert panel.live.bar is not None and panel.live.spaces  # progress and points arrived live
        report = app.chat.report
        assert report is not None
        answer = report.answers["train_loss_large"]
        assert answer.source.value == "probe" and answer.evidence is not None
        assert answer.evidence.probe == "baselines"
        assert "measured by the baselines probe" in texts(app)
        # the conversation moved on from the measured answer
        assert app.chat.current is not None and app.chat.current.id != "train_loss_large"


async def test_automatic_diagnosis_reaches_the_demo_leaf_with_evidence(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app("demo:saddle_point")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the automatic diagnosis")
        await idle(pilot)
        report = app.chat.report
        assert report is not None and report.complete
        ids = [f.id for f in report.findings]
        assert "saddle_point" in ids, ids
        cards = {c.finding.id: c for c in app.screen.query(FindingCard)}
        assert set(cards) == set(ids)
        saddle = cards["saddle_point"]
        curvature = next(e for e in saddle.finding.evidence if e.probe == "curvature")
        assert curvature.data["lambda_min"] == pytest.approx(-2.0)  # the lecture's example: 2 and -2
        assert any(view.evidence is curvature for view in saddle.query(EvidenceView))
        assert "Summary" in texts(app)


async def test_the_training_curves_watched_live_are_drawn_in_the_card(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app("demo:optimization_issue")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("m")  # the depth ladder: a 1-layer and a 10-layer net, two seeds each
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the depth probe")
        await idle(pilot)
        card = app.screen.query_one("#finding-optimization_issue", FindingCard)
        plots = list(card.query(CurvePlot))
        assert plots, "no training curves in the card"
        # the 10-layer net trains for seconds, so its curve has many points; the 1-layer one may
        # finish between two progress reports (ten a second) and is then left out, not drawn as a stub
        curves = plots[0].curves
        assert "depth 10" in curves, sorted(curves)
        assert all(name.startswith("depth ") for name in curves)
        assert all(len(points) >= 4 for points in curves.values())


async def test_a_running_probe_can_be_cancelled_and_the_ui_stays_live(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app(UNTIL_CANCELLED)
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("y")  # training loss large: next is the depth comparison
        await idle(pilot)
        assert app.chat.current is not None and app.chat.current.id == "deeper_model_worse"
        await pilot.press("m")
        panel = app.screen.query_one(ProbePanel)
        await wait_for(pilot, lambda: panel.live.bar is not None, PROBE_WAIT_S, "the first progress report")
        job_id = app.chat.job.id  # type: ignore[union-attr]
        # the event loop is free while the probe runs: keys still work
        await pilot.press("w")
        await pilot.pause()
        assert "deeper network can copy a shallower one" in texts(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the cancelled probe to end")
        await idle(pilot)
        job = app.client.get_probe(job_id)
        assert job.status == "cancelled"
        report = app.chat.report
        assert report is not None and "deeper_model_worse" not in report.answers
        assert any("cancelled" in n.message for n in app._notifications)
        assert app.chat.current is not None and app.chat.current.id == "deeper_model_worse"


async def test_quitting_during_a_probe_exits_and_the_probe_is_cancelled_after(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app(UNTIL_CANCELLED)
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("m")
        panel = app.screen.query_one(ProbePanel)
        await wait_for(pilot, lambda: panel.live.bar is not None, PROBE_WAIT_S, "the first progress report")
        job_id = app.chat.job.id  # type: ignore[union-attr]
        await pilot.press("q")
    assert app.return_code == 0
    # the app leaves the job behind (quitting does not wait for a probe to stop); the entry point
    # cancels it once the screen is gone (an embedded service's shutdown ends it too)
    assert app.left_running == job_id
    app.cancel_left_behind()
    # the cancel answers once the job stopped, or after the service's own wait (15 s) on a machine
    # too loaded to stop it by then: poll, bounded, for the status it must reach
    deadline = time.monotonic() + PROBE_WAIT_S
    while (status := app.client.get_probe(job_id).status) not in FINISHED and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert status == "cancelled"


async def test_a_probe_that_fails_is_said_in_the_chat_and_the_session_goes_on(
    make_app: Callable[..., TraindocApp], tmp_path: Path
) -> None:
    setup = tmp_path / "broken_setup.py"
    setup.write_text("def build():\n    raise RuntimeError('the data folder is missing')\n")
    app = make_app(f"{setup}:build")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the failing probe")

        await wait_for(
            pilot,
            lambda: "the data folder is missing" in texts(app),
            what="a chat message naming the cause",
        )
        assert any(n.severity == "error" for n in app._notifications)  # and a toast
        assert app.is_running
        await pilot.press("y")  # answering by hand still works
        await idle(pilot)
        assert app.chat.report is not None and app.chat.report.answers["train_loss_large"].value == "yes"
