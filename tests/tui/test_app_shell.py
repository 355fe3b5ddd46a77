"""What Textual users expect: help, themes, the command palette, export, quit, resize."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input

from assistant.models import Report
from tests.tui.conftest import idle, ready, run_palette_command, wait_for
from tui import TraindocApp
from tui.app import DARK, LIGHT, settings_path
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen


async def answer_to_model_bias(pilot) -> None:
    await pilot.press("y")
    await idle(pilot)
    await pilot.press("n")
    await idle(pilot)


async def test_help_opens_with_f1_and_question_mark(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help to close")


async def test_footer_shows_the_bindings_that_apply(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        active = app.screen.active_bindings.values()
        shown = {b.binding.action for b in active if b.enabled and b.binding.show}
        enabled = {b.binding.action for b in active if b.enabled}
        assert {"help", "quit", "type"} <= shown
        # the answer keys are on the question bar's buttons, not repeated in the footer (80x24)
        assert {"answer('yes')", "answer('no')", "answer('unsure')", "why"} <= enabled
        assert all(app.screen.query_one(f"#answer-{v}").display for v in ("yes", "no", "unsure"))
        assert app.screen.check_action("cancel_probe", ()) is False  # nothing running: hidden
        assert app.screen.check_action("change", ()) is False  # nothing answered yet


async def test_theme_toggles_and_is_remembered(make_app: Callable[..., TraindocApp], home: Path) -> None:
    app = make_app(remember_theme=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        assert app.theme == DARK
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.theme == LIGHT
    assert json.loads(settings_path().read_text())["theme"] == LIGHT
    assert settings_path().parent == home

    again = make_app(remember_theme=True)
    async with again.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        assert again.theme == LIGHT


async def test_command_palette_offers_our_commands(make_app: Callable[..., TraindocApp], home: Path) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Export report", "New session", "Toggle light/dark theme", "Change an answer", "Help"):
            assert title in titles
        assert "Diagnose automatically" not in titles  # needs a setup
        await run_palette_command(pilot, "Export report", "Export report")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")


async def test_export_writes_markdown_and_json(make_app: Callable[..., TraindocApp], tmp_path: Path) -> None:
    app = make_app()
    target = tmp_path / "reports"
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await answer_to_model_bias(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        field = app.screen.query_one("#export-dir", Input)
        assert field.value == str(Path.cwd())  # the working directory by default
        field.value = str(target)
        await pilot.click("#export-go")
        await wait_for(
            pilot, lambda: any("Report written" in n.message for n in app._notifications), what="export"
        )
        session_id = app.conversation.session_id
    stem = f"traindoc-report-{session_id[:8]}"  # type: ignore[index]
    markdown = (target / f"{stem}.md").read_text()
    assert "Model bias: the model is too simple" in markdown
    report = Report.model_validate_json((target / f"{stem}.json").read_text())
    assert [f.id for f in report.findings] == ["model_bias"]
    assert report.session_id == session_id


async def test_export_into_an_unwritable_place_is_a_toast(
    make_app: Callable[..., TraindocApp], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        app.chat.action_export(blocker / "reports")
        await wait_for(
            pilot, lambda: any(n.severity == "error" for n in app._notifications), what="the error"
        )
        assert app.is_running
        assert any("cannot create" in n.message for n in app._notifications)


async def test_q_and_ctrl_c_quit(make_app: Callable[..., TraindocApp]) -> None:
    for key in ("q", "ctrl+c"):
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await ready(pilot)
            await pilot.press(key)
            await pilot.pause()
        assert app.return_code == 0 and not app.is_running


async def test_q_types_in_the_input_instead_of_quitting(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await pilot.press("i", "q")
        await pilot.pause()
        assert app.is_running
        assert app.screen.query_one("#freetext", Input).value == "q"


async def test_layout_survives_resizing(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await ready(pilot)
        assert app.screen.has_class("-narrow")
        assert not app.screen.query_one("#question-label").display
        await answer_to_model_bias(pilot)
        await pilot.resize_terminal(140, 50)
        await pilot.pause()
        assert app.screen.has_class("-wide")
        assert app.screen.query_one("#question-label").display
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert app.is_running
