"""Snapshots of the main screens (pytest-textual-snapshot), from the real app on a real embedded
service. Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at them.

Only what changes from run to run is pinned: the session id in the header and the toasts.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from probes.base import ProbeOutcome, ProbeProgress
from tests.tui.conftest import WAIT_S, idle, ready, wait_for
from tui import TraindocApp
from tui.app import LIGHT
from tui.failures import probe_failed_markdown
from tui.screens.change_answer import ChangeAnswerScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.probe_options import ProbeOptionsScreen
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.probe_panel import ProbePanel

pytest.importorskip("pytest_textual_snapshot")

SIZE = (100, 34)


async def pin(pilot: Pilot) -> None:
    """Make the screen the same on every run: a fixed subtitle, no toasts."""
    app: TraindocApp = pilot.app  # type: ignore[assignment]
    await pilot.pause()
    app.chat.sub_title = "session (test)"
    app.clear_notifications()
    await pilot.pause()


async def scrolled_to(pilot: Pilot, widget: Widget) -> None:
    """Scroll the transcript so that `widget` is in view (at its top, or as high as the end allows),
    and wait until it stays there with no toast left. The transcript is anchored to its end (new messages scroll it down), and on a loaded
    machine the session's last layout and its "Resumed ..." toast could land after one
    `scroll_visible`: CI once pinned the screen scrolled back to the end with the toast showing."""
    app: TraindocApp = pilot.app  # type: ignore[assignment]
    transcript = app.screen.query_one("#transcript", VerticalScroll)
    transcript.release_anchor()  # as a user scrolling up does

    def settled() -> bool:
        shown = transcript.content_region.contains_region(widget.region)  # the whole plot in view
        return shown and not app._notifications

    deadline = time.monotonic() + WAIT_S
    stable = 0
    while stable < 3:  # the same place over three frames
        if time.monotonic() > deadline:
            where = f"{widget.region} in {transcript.content_region}, {len(app._notifications)} toasts"
            raise AssertionError(f"the view did not settle on {widget!r} within {WAIT_S:.0f} s: {where}")
        if not settled():
            stable = 0
            app.clear_notifications()
            widget.scroll_visible(animate=False, top=True, immediate=True)
        else:
            stable += 1
        await pilot.pause(0.05)


async def model_bias(pilot: Pilot) -> None:
    await ready(pilot)
    await pilot.press("y")
    await idle(pilot)
    await pilot.press("n")
    await idle(pilot)


def test_start(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_finding_card_and_summary(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await model_bias(pilot)
        pilot.app.screen.query_one("#transcript").scroll_end(animate=False)
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_finding_card_light_theme(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await model_bias(pilot)
        pilot.app.theme = LIGHT
        transcript = pilot.app.screen.query_one("#transcript")
        await pilot.pause()
        transcript.scroll_to_widget(
            pilot.app.screen.query_one("#finding-model_bias"), animate=False, top=True
        )
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_change_answer_dialog(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await model_bias(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChangeAnswerScreen))
        await pilot.press("enter")
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_confirm_free_text(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("i", *"my train loss is 2.25 after 10 epochs, val 2.9, 10 classes", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_narrow_terminal(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await model_bias(pilot)
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=(60, 30), run_before=run_before)


def test_probe_panel_live_plot(snap_compare, make_app: Callable[..., TraindocApp]) -> None:
    """The panel fed the progress a depth probe reports: training curves per depth, the bar."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        panel = pilot.app.screen.query_one(ProbePanel)
        panel.start("depth")
        panel.display = True
        for depth in (1, 2, 4):
            for step in range(1, 41):
                loss = 2.3 * math.exp(-step / (6 * depth)) + 0.05 * depth
                panel.advance(
                    ProbeProgress(
                        probe="training",
                        done=step,
                        total=40,
                        series=f"depth {depth}",
                        message=f"depth {depth} step {step}/40",
                        estimate={"loss": loss},
                    )
                )
            panel.advance(
                ProbeProgress(
                    probe="depth",
                    done=depth,
                    total=4,
                    series=f"depth {depth}",
                    message=f"depth {depth} seed 0: final training loss {loss:.4g}",
                    estimate={"loss": loss},
                )
            )
        await pin(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 40), run_before=run_before)


# -- issue 15: the new screens, at 80x24 and 200x60, light and dark --------------------------------


@pytest.mark.parametrize(
    "size, theme", [((80, 24), "dark"), ((80, 24), "light"), ((200, 60), "dark"), ((200, 60), "light")]
)
def test_demo_start_at_the_smallest_and_a_large_terminal(
    snap_compare, make_app: Callable[..., TraindocApp], size: tuple[int, int], theme: str
) -> None:
    """The answer bar (Measure it included) and the footer's Help / Quit fit at 80x24."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        if theme == "light":
            pilot.app.theme = LIGHT
        await pin(pilot)

    assert snap_compare(make_app("demo:saddle_point"), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_a_failure_in_the_chat(
    snap_compare, make_app: Callable[..., TraindocApp], size: tuple[int, int]
) -> None:
    """A failed probe's message, as the chat shows it (the message a real failure produces: see
    test_first_ten_minutes for the probe failing for real)."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        app: TraindocApp = pilot.app  # type: ignore[assignment]
        app.conversation.mark_failed("baselines")
        await app.chat.fail(
            probe_failed_markdown(
                "baselines", "the training loss turned nan at step 3 (depth 1, seed 0)", "training_diverged"
            )
        )
        await idle(pilot)
        await pin(pilot)

    assert snap_compare(make_app("demo:saddle_point"), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_probe_options_form(
    snap_compare, make_app: Callable[..., TraindocApp], size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("y")  # the depth question: its probe has options
        await idle(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ProbeOptionsScreen), what="the form")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor differs from run to run
        await pilot.pause()
        await pin(pilot)

    assert snap_compare(make_app("demo:saddle_point"), terminal_size=size, run_before=run_before)


# -- issue 18: the eigenvalue density in the curvature card, 80x24 and 200x60, light and dark --------


@pytest.mark.parametrize(
    "size, theme", [((80, 24), "dark"), ((80, 24), "light"), ((200, 60), "dark"), ((200, 60), "light")]
)
def test_density_plot_in_the_card(
    snap_compare,
    make_app: Callable[..., TraindocApp],
    make_client: Callable[..., object],
    size: tuple[int, int],
    theme: str,
) -> None:
    """A saddle point whose curvature evidence carries a real `--density` result (tests/tui/data),
    scrolled to the density plot and its line of numbers."""
    client = make_client()
    sid = client.create_session().id  # type: ignore[attr-defined]
    client.answer(sid, "train_loss_large", "yes")  # type: ignore[attr-defined]
    client.answer(sid, "deeper_model_worse", "yes")  # type: ignore[attr-defined]
    data = json.loads((Path(__file__).parent / "data" / "curvature_density_tiny_regression.json").read_text())
    outcome = ProbeOutcome(
        probe="curvature",
        answers={"gradient_norm_small": "yes", "hessian_negative_eigenvalue": "yes"},
        summary="a saddle point: negative curvature where the gradient vanishes",
        data=data,
    )
    client.apply_outcome(sid, outcome)  # type: ignore[attr-defined]

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        if theme == "light":
            pilot.app.theme = LIGHT
        app: TraindocApp = pilot.app  # type: ignore[assignment]
        plot = next(p for p in app.screen.query(CurvePlot) if p.has_class("density-plot"))
        await scrolled_to(pilot, plot)
        await pin(pilot)
        await scrolled_to(pilot, plot)  # pinning re-lays the screen out; the view must not move

    assert snap_compare(make_app(resume=True, client=client), terminal_size=size, run_before=run_before)
