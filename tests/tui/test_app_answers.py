"""Pilot tests of the conversation against a real embedded service: answer, why, change, undo, resume."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Button, OptionList

from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.screens.change_answer import ChangeAnswerScreen
from tui.widgets.chat_message import ChatMessage
from tui.widgets.finding_card import FindingCard


def texts(app: TraindocApp) -> str:
    return "\n".join(m.source for m in app.screen.query(ChatMessage))  # type: ignore[attr-defined]


async def test_answering_with_keys_reaches_a_finding_card_and_a_summary(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert app.chat.current is not None and app.chat.current.id == "train_loss_large"
        assert "Is the loss on your TRAINING data large?" in texts(app)
        await pilot.press("y")
        await idle(pilot)
        assert app.chat.current is not None and app.chat.current.id == "deeper_model_worse"
        await pilot.press("n")
        await idle(pilot)
        cards = list(app.screen.query(FindingCard))
        assert [c.finding.id for c in cards] == ["model_bias"]
        assert app.chat.report is not None and app.chat.report.complete
        assert "Summary" in texts(app) and "Model bias" in texts(app)
        # the server has it: the TUI shows what the service derived, nothing of its own
        session = app.client.get_session(app.conversation.session_id)  # type: ignore[arg-type]
        assert {q: a.value for q, a in session.report.answers.items()} == {
            "train_loss_large": "yes",
            "deeper_model_worse": "no",
        }


async def test_buttons_answer_too(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.click("#answer-no")
        await idle(pilot)
        assert app.chat.report is not None and app.chat.report.answers["train_loss_large"].value == "no"
        assert app.chat.current is not None and app.chat.current.id == "test_loss_large"


async def test_not_sure_keeps_the_question_open_and_says_so(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("u")
        await idle(pilot)
        report = app.chat.report
        assert report is not None and report.answers["train_loss_large"].value == "unsure"
        assert [q.id for q in report.pending] == ["train_loss_large"]
        assert "can't go further" in texts(app)
        await pilot.press("y")  # answering it later replaces the 'not sure'
        await idle(pilot)
        assert app.chat.current is not None and app.chat.current.id == "deeper_model_worse"


async def test_why_shows_the_help_text(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert "not every bad test result is overfitting" in texts(app)
        assert "Lecture: General Guidance" in texts(app)


async def test_changing_an_earlier_answer_reflows_and_drops_stale_findings(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("n")
        await idle(pilot)
        assert [c.finding.id for c in app.screen.query(FindingCard)] == ["model_bias"]
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeAnswerScreen), what="the change dialog")
        options = app.screen.query_one("#change-list", OptionList)
        assert options.option_count == 2
        await pilot.press("enter")  # the highlighted first answer: train_loss_large
        await pilot.pause()
        await pilot.press("n")
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        assert report.answers["train_loss_large"].value == "no"
        assert "deeper_model_worse" in report.inactive_answers  # kept, off the path now
        assert not list(app.screen.query(FindingCard))  # model bias no longer follows
        assert app.chat.current is not None and app.chat.current.id == "test_loss_large"
        assert "Model bias" not in texts(app)


async def test_clicking_an_answer_opens_it_for_change(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.click("#answer-train_loss_large")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeAnswerScreen), what="the change dialog")
        assert app.screen.selected == "train_loss_large"  # type: ignore[attr-defined]
        await pilot.click("#set-withdraw")
        await idle(pilot)
        assert app.chat.report is not None and not app.chat.report.answers


async def test_undo_takes_back_the_last_input(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("z")
        await idle(pilot)
        assert app.chat.report is not None and not app.chat.report.answers
        assert app.chat.current is not None and app.chat.current.id == "train_loss_large"


async def test_without_a_setup_nothing_offers_to_measure(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert not app.screen.query_one("#measure", Button).display
        assert app.screen.check_action("measure", ()) is False
        await pilot.press("m")  # refused quietly: the binding is not active
        await pilot.pause()
        assert app.chat.job is None


async def test_the_session_is_there_next_time(make_app: Callable[..., TraindocApp], make_client) -> None:
    client = make_client()
    first = make_app(client=client)
    async with first.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        session_id = first.conversation.session_id
        await pilot.press("q")
    assert first.return_code == 0
    client.close()  # the embedded service stops, as when the program ends

    again = make_app(resume=True)  # a new embedded service on the same SQLite file
    async with again.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert again.conversation.session_id == session_id
        report = again.chat.report
        assert report is not None and report.answers["train_loss_large"].value == "yes"
        assert again.chat.current is not None and again.chat.current.id == "deeper_model_worse"


async def test_resume_without_an_earlier_session_starts_a_new_one(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app(resume=True)
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        assert app.chat.report is not None and not app.chat.report.answers


async def test_new_session_from_the_key(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("y")
        await idle(pilot)
        first = app.conversation.session_id
        await pilot.press("ctrl+n")
        await idle(pilot)
        assert app.conversation.session_id != first
        assert app.chat.report is not None and not app.chat.report.answers
        assert len(app.client.list_sessions()) == 2


async def test_a_service_error_is_a_toast_not_a_crash(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        app.client._server.stop()  # the service goes away under the UI
        app.client._server = None
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.chat.busy, what="the failed request")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("cannot reach the traindoc service" in m for m in messages), messages
        assert app.is_running
        assert app.chat.report is not None and not app.chat.report.answers
