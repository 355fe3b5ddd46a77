"""Every dialog fits the smallest supported terminal (80x24) and a large one (200x60): each widget
that is not scrolled away lies inside the screen and inside its dialog's box, so every button can be
seen and clicked.

Ground truth is geometry alone: a widget's region (Textual's layout result) against the screen's
size and the dialog box's content region. Widgets inside a scrolling container are checked against
that container instead (what is scrolled away is reachable by scrolling). The forms are opened with
their longest content: the curvature probe's 12 options, an error line, the change dialog with every
answer button shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.containers import ScrollableContainer
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input

from assistant.models import Answer, AnswerSource, Report
from probes.registry import PROBES
from rules import KNOWLEDGE
from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.screens.change_answer import ChangeAnswerScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.probe_options import ProbeOptionsScreen

SIZES = [(80, 24), (200, 60)]


def misplaced(screen: Screen) -> list[str]:
    """Widgets outside the screen, or outside the box (or scroll view) that holds them."""
    width, height = screen.size
    whole = Region(0, 0, width, height)
    out: list[str] = []
    for widget in screen.query("*"):
        if not widget.display or widget.region.area == 0 and not _scrolled(widget):
            continue
        holder = _holder(widget, screen)
        if holder is None:  # the dialog box itself
            if not whole.contains_region(widget.region):
                out.append(f"{widget!r} at {widget.region} outside the {width}x{height} screen")
            continue
        if isinstance(holder, ScrollableContainer):
            continue  # scrolled content: reachable by scrolling
        inside = holder.content_region
        if not inside.contains_region(widget.region):
            out.append(f"{widget!r} at {widget.region} outside {holder!r}'s {inside}")
    return out


def _scrolled(widget: Widget) -> bool:
    return any(isinstance(a, ScrollableContainer) for a in widget.ancestors[1:] if isinstance(a, Widget))


def _holder(widget: Widget, screen: Screen) -> Widget | None:
    """The nearest box that must contain the widget: a scroll view or the dialog box (the screen's
    direct child); None for the box itself."""
    parent = widget.parent
    while isinstance(parent, Widget) and not isinstance(parent, Screen):
        if isinstance(parent, ScrollableContainer) or parent.parent is screen:
            return parent
        parent = parent.parent
    return None


async def opened(pilot: Pilot, screen: Screen) -> None:
    pilot.app.push_screen(screen)
    await wait_for(pilot, lambda: pilot.app.screen is screen, what=f"{screen!r}")
    for field in screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def report_with_answers(report: Report) -> Report:
    """Every question answered (so the change dialog's list is as long as it gets)."""
    answers = {
        qid: Answer(question=qid, value="yes", source=AnswerSource.user) for qid in KNOWLEDGE.questions
    }
    return report.model_copy(update={"answers": answers})


async def options_with_error(pilot: Pilot) -> Screen:
    screen = ProbeOptionsScreen("curvature")  # the probe with the most options
    await opened(pilot, screen)
    screen.query_one("#option-samples", Input).value = "not a number, typed at length to wrap the line"
    screen.query_one("#options-go", Button).press()
    await wait_for(pilot, lambda: "samples" in str(screen.query_one("#options-error").render()))
    await pilot.pause()
    return screen


async def change_with_buttons(pilot: Pilot) -> Screen:
    report = report_with_answers(pilot.app.chat.report)  # type: ignore[attr-defined]
    screen = ChangeAnswerScreen(report, next(iter(report.answers)))
    await opened(pilot, screen)
    return screen


OPENERS: dict[str, Callable[[Pilot], Awaitable[Screen]]] = {
    **{
        f"options-{probe}": (lambda p, probe=probe: _open_plain(p, ProbeOptionsScreen(probe)))
        for probe, spec in PROBES.items()
        if spec.options
    },
    "options-with-error": options_with_error,
    "change-answer": change_with_buttons,
    "confirm": lambda p: _open_plain(
        p, ConfirmScreen("**Training loss large: yes** (2.25 ≥ 50% of ln 10 = 2.30)", title="I understood")
    ),
    "export": lambda p: _open_plain(p, ExportScreen(Path("/a/rather/long/folder/name/for/the/export"))),
    "help": lambda p: _open_plain(p, HelpScreen()),
}


async def _open_plain(pilot: Pilot, screen: Screen) -> Screen:
    await opened(pilot, screen)
    return screen


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_dialog_fits(make_app: Callable[..., TraindocApp], size: tuple[int, int]) -> None:
    app = make_app("demo:saddle_point")
    problems: dict[str, list[str]] = {}
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await pilot.press("y")  # one answer, so the change dialog has something to change
        await idle(pilot)
        for name, open_it in OPENERS.items():
            screen = await open_it(pilot)
            if found := misplaced(screen):
                problems[name] = found
            app.pop_screen()
            await pilot.pause()
    assert not problems, "\n".join(f"{name}: {line}" for name, lines in problems.items() for line in lines)


async def test_the_options_form_is_clicked_after_an_error(make_app: Callable[..., TraindocApp]) -> None:
    """The real button, clicked at its place on screen after the error line appeared (the old test
    pressed it in code). Textual ignores a click on a button still showing its previous press
    (0.2 s, the `-active` class), as a person's double click: the test waits for that to end."""
    app = make_app("demo:saddle_point")
    chosen: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        screen = ProbeOptionsScreen("curvature")
        app.push_screen(screen, chosen.append)
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause()
        screen.query_one("#option-samples", Input).value = "many"
        assert await pilot.click("#options-go")
        await wait_for(pilot, lambda: "samples" in str(screen.query_one("#options-error").render()))
        assert app.screen is screen and screen.query_one("#option-samples", Input).value == "many"
        screen.query_one("#option-samples", Input).value = "256"
        go = screen.query_one("#options-go", Button)
        await wait_for(pilot, lambda: not go.has_class("-active"), what="the first press to end")
        assert await pilot.click("#options-go")
        await wait_for(pilot, lambda: bool(chosen), what="the form to close")
    assert chosen == [{"samples": 256}]
