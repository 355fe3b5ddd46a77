"""Issue 15: a newcomer's first ten minutes. Each test here is one dead end of the issue, reproduced
as a new user meets it; each failed on main before the fix (the docstrings say what main did).

Ground truth is the user's view: what the chat says, where the focus is, what the screen holds.
(Imports of what issue 15 added are inside the tests that use them, so that this file, run against
the old code, fails test by test on behaviour rather than all at once on an import.)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button, Footer, Input

from assistant.service_models import FINISHED
from tests.conftest import REAL_HISTORIES
from tests.tui.conftest import UNTIL_CANCELLED, idle, ready, wait_for
from tui import TraindocApp
from tui.screens.confirm import ConfirmScreen
from tui.widgets.chat_message import ChatMessage
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.finding_card import FindingCard
from tui.widgets.question_bar import QuestionBar

OUT_OF_MEMORY = Path(__file__).resolve().parent / "setups" / "runs_out_of_memory.py"
LIGHTNING = REAL_HISTORIES / "lightning_csv" / "HCDescamps__cv-image-classification__version_0_metrics.csv"
PROBE_WAIT_S = 240.0


def texts(app: TraindocApp) -> str:
    return "\n".join(m.source for m in app.screen.query(ChatMessage))  # type: ignore[attr-defined]


async def test_focus_returns_to_the_answer_bar_after_typing_and_q_quits(
    make_app: Callable[..., TraindocApp],
) -> None:
    """Main: after typing, the focus stayed in the text box, so y / n / q typed letters."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("i", *"hello there", "enter")  # nothing to answer in that
        await pilot.pause()
        assert "I didn't find an answer" in texts(app)
        assert isinstance(app.screen.focused, Button) and app.screen.focused.id == "answer-yes"
        await pilot.press("i", *"not sure", "enter")  # an answer: confirmed in a dialog
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await idle(pilot)
        assert app.chat.report is not None and app.chat.report.answers["train_loss_large"].value == "unsure"
        assert not isinstance(app.screen.focused, Input)
        await pilot.press("i", *"abc")
        assert isinstance(app.screen.focused, Input)
        await pilot.press("escape")  # escape leaves the text box, and what was typed stays
        assert not isinstance(app.screen.focused, Input)
        assert app.screen.query_one("#freetext", Input).value == "abc"
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running and app.return_code == 0


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_answer_buttons_and_footer_fit_the_terminal(
    make_app: Callable[..., TraindocApp], size: tuple[int, int]
) -> None:
    """Main: at 80x24 the Measure button and the footer's last keys (Help, Quit) were cut off."""
    app = make_app("demo:saddle_point")
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        width = size[0]
        for button in app.screen.query_one(QuestionBar).query(Button):
            assert button.display, button.id
            assert button.region.right <= width, (button.id, button.region)
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        shown = {  # the footer's keys drawn whole, left of the palette hint at the right edge
            k.key  # type: ignore[attr-defined]
            for k in footer.query("FooterKey")
            if k.region.width > 0 and k.region.right <= width - 10
        }
        assert {"q", "f1", "i"} <= shown, shown


async def test_labels_are_the_questions_words_not_ids(make_app: Callable[..., TraindocApp]) -> None:
    """Main: the bar said `train loss large?` and the why-aside `whether train loss large`."""
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        current = app.chat.current
        assert current is not None
        label = str(app.screen.query_one("#question-label").render())
        assert current.text in label and "train loss large" not in label
        await pilot.press("w")
        await pilot.pause()
        assert current.text in texts(app) and "whether train loss large" not in texts(app)


@pytest.mark.skipif(not LIGHTNING.exists(), reason="the real histories are not in this checkout")
async def test_a_with_a_history_answers_what_it_can_and_the_title_names_the_file(
    make_app: Callable[..., TraindocApp],
) -> None:
    """Main: `a` did nothing with only a history loaded, and the title said `history default`."""
    app = make_app(history=str(LIGHTNING))
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert LIGHTNING.name in app.chat.sub_title and "history default" not in app.chat.sub_title
        await pilot.press("a")
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        # the log's training loss falls far below ln(10) (read by hand: tests/data/real_histories), so
        # the history answers the training question; what it cannot answer is asked next
        assert report.answers["train_loss_large"].source.value == "history"
        assert report.findings or app.chat.current is not None


@pytest.mark.slow
async def test_a_failed_probe_is_said_in_the_chat_with_what_to_do_and_not_offered_again(
    make_app: Callable[..., TraindocApp],
) -> None:
    """Main: a toast that vanished after a few seconds, and `m` still offered (failing again)."""
    app = make_app(f"{OUT_OF_MEMORY}:setup")
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert app.screen.query_one("#measure", Button).display
        await pilot.press("m")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the probe to fail")
        await idle(pilot)
        said = texts(app)
        assert "I could not finish the training-loss measurement" in said
        assert "CUDA out of memory" in said and "lower `batch_size`" in said
        assert "--resume" in said  # and what to do next
        assert not app.screen.query_one("#measure", Button).display
        assert "Press **m**" not in said and app.screen.check_action("measure", ()) is False
        await pilot.press("y")  # answering by hand still works, and the failure stays in the chat
        await idle(pilot)
        assert "I could not finish" in texts(app)


@pytest.mark.slow
async def test_quitting_during_a_probe_does_not_wait_for_it(
    make_app: Callable[..., TraindocApp], make_client: Callable[..., object]
) -> None:
    """Main: quit cancelled the probe first and waited until it had stopped (3-5 s on a blank screen).
    Now the app exits at once, leaving the job to the entry point (and the service's own shutdown)."""
    # a setup whose training cannot end before the test cancels it: on a fast machine the saddle
    # demo's automatic walk could finish between `a` and the status check
    client = make_client(setup=UNTIL_CANCELLED)
    app = make_app(UNTIL_CANCELLED, client=client)
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        job_id = app.chat.job.id  # type: ignore[union-attr]
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running
    assert app.left_running == job_id
    assert client.get_probe(job_id).status in ("queued", "running")  # type: ignore[attr-defined]
    app.cancel_left_behind()  # what `traindoc --server` does once the screen is gone
    # the cancel answers once the job stopped, or after the service's own 15 s wait on a loaded machine
    deadline = time.monotonic() + PROBE_WAIT_S
    while (status := client.get_probe(job_id).status) not in FINISHED and time.monotonic() < deadline:  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
    assert status == "cancelled"


@pytest.mark.slow
async def test_resume_restores_the_source_and_the_curves_drawn_live(
    make_app: Callable[..., TraindocApp], make_client: Callable[..., object]
) -> None:
    """Main: `traindoc --resume` dropped the demo/setup the session was started with (no more `m`),
    and the depth ladder's curves watched live were gone: numbers without their curve."""
    first = make_app("demo:optimization_issue", sources={"demo": "optimization_issue"})
    async with first.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("m")  # the depth ladder, with its training curves drawn live
        await wait_for(pilot, lambda: first.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: first.chat.job is None, PROBE_WAIT_S, "the depth probe")
        await idle(pilot)
        live = first.chat.seen
        assert live, "no curves watched live"
        report = first.chat.report
        client = first.chat.conversation.client
        await first.workers.wait_for_complete()
        assert report is not None and report.session_id is not None
        assert client.get_curves(report.session_id).curves.keys() == live.keys()  # kept in the service
    # `traindoc --resume` alone: the entry point finds the source the latest session started with
    from assistant.cli.tui_entry import resumed_sources

    args = argparse.Namespace(resume=True, server=None, setup=None, demo=None, history=None)
    assert resumed_sources(args, make_client()) and args.demo == "optimization_issue"

    again = make_app(f"demo:{args.demo}", resume=True)
    async with again.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        assert again.chat.report is not None and report is not None
        assert again.chat.report.answers.keys() == report.answers.keys()
        assert again.chat.conversation.sources.setup == "default"  # measuring works again
        assert again.chat.seen.keys() == live.keys()
        card = again.screen.query_one("#finding-optimization_issue", FindingCard)
        plots = list(card.query(CurvePlot))
        assert plots and "depth 10" in plots[0].curves  # the curve, not only its numbers


TINY = Path(__file__).resolve().parents[1] / "probes" / "setups" / "tiny_regression.py"


@pytest.mark.slow
async def test_probe_options_are_set_in_a_form_and_reach_the_probe(
    make_app: Callable[..., TraindocApp],
) -> None:
    """Main: probes always ran with their defaults; nothing in the TUI could set depths or seeds.
    Ground truth: the ladder the probe reports back holds the depths typed in the form (5 is not in
    the default ladder around the setup's depth 2; the probe adds the setup's own depth)."""
    from tui.screens.probe_options import ProbeOptionsScreen

    app = make_app(f"{TINY}:setup")
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert app.screen.check_action("probe_options", ()) is False  # baselines: nothing to set
        await pilot.press("y")  # training loss large: the depth question, whose probe has options
        await idle(pilot)
        assert "**o** sets its options" in texts(app)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ProbeOptionsScreen), what="the options form")
        depths = app.screen.query_one("#option-depths", Input)
        assert depths.placeholder == "default: around the setup's depth"
        assert app.screen.query_one("#option-seeds", Input).placeholder == "default: 2"
        depths.value = "1,x"
        await pilot.click("#options-go")
        await pilot.pause()
        error = str(app.screen.query_one("#options-error").render())
        assert "depths: whole numbers separated by commas" in error
        assert isinstance(app.screen, ProbeOptionsScreen) and depths.value == "1,x"  # kept
        depths.value = "1,5"
        app.screen.query_one("#option-seeds", Input).value = "1"
        go = app.screen.query_one("#options-go", Button)
        # Textual ignores a click on a button still showing its last press (0.2 s): wait as a person would
        await wait_for(pilot, lambda: not go.has_class("-active"), what="the first press to end")
        assert await pilot.click("#options-go")  # the real button at its place on screen
        await wait_for(
            pilot, lambda: not isinstance(app.screen, ProbeOptionsScreen), what="the form to close"
        )
        assert app.chat.probe_options["depth"] == {"depths": "1,5", "seeds": 1}
        await pilot.press("m")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the probe job to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the depth probe")
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        evidence = report.answers["deeper_model_worse"].evidence
        assert evidence is not None
        ladder = {row["depth"] for row in evidence.data["ladder"]}
        assert {1, 5} <= ladder <= {1, 2, 5}, ladder
