"""Free text in the app: understood, confirmed, then answered (or dropped)."""

from __future__ import annotations

from collections.abc import Callable

from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.screens.confirm import ConfirmScreen
from tui.widgets.chat_message import ChatMessage


def texts(app: TraindocApp) -> str:
    return "\n".join(m.source for m in app.screen.query(ChatMessage))  # type: ignore[attr-defined]


async def type_line(pilot, text: str) -> None:
    await pilot.press("i")
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


async def test_numbers_with_a_reference_are_confirmed_then_answered(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "training loss is 2.25 with 10 classes")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        shown = app.screen.markdown  # type: ignore[attr-defined]
        assert "ln 10" in shown and "→ **yes**" in shown
        assert app.chat.report is not None and not app.chat.report.answers  # nothing sent yet
        await pilot.press("y")
        await idle(pilot)
        answer = app.chat.report.answers["train_loss_large"]
        assert answer.value == "yes"
        assert answer.note == "training loss is 2.25 with 10 classes"  # the user's words travel with it


async def test_declining_the_confirmation_answers_nothing(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "train loss is small")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        await idle(pilot)
        assert app.chat.report is not None and not app.chat.report.answers


async def test_several_claims_are_sent_in_flowchart_order(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "val loss is fine but test loss is high and train loss is small")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        assert {q: a.value for q, a in report.answers.items()} == {
            "train_loss_large": "no",
            "test_loss_large": "yes",
            "val_loss_large": "no",
        }
        assert [f.id for f in report.findings] == ["mismatch"]


async def test_a_number_without_reference_is_noted_and_completed_later(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "my train loss is 2.3 after 10 epochs")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "compare it with" in texts(app)
        await type_line(pilot, "10 classes")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await idle(pilot)
        assert app.chat.report is not None and app.chat.report.answers["train_loss_large"].value == "yes"


async def test_a_claim_the_path_has_not_reached_is_remembered_and_suggested(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "the validation loss is bad")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await idle(pilot)
        assert app.chat.report is not None and not app.chat.report.answers  # not on the path yet
        assert "val_loss_large" in app.chat.remembered
        # focus followed the conversation back to the answer bar (issue 15): keys answer again
        assert app.screen.focused is not None and app.screen.focused.id == "answer-yes"
        await pilot.press("n")  # training loss not large
        await idle(pilot)
        await pilot.press("y")  # test loss large: now validation is asked
        await idle(pilot)
        assert app.chat.current is not None and app.chat.current.id == "val_loss_large"
        assert "From what you told me earlier" in texts(app)
        assert app.screen.focused is not None and app.screen.focused.id == "answer-yes"  # the suggestion
        await pilot.press("enter")
        await idle(pilot)
        assert [f.id for f in app.chat.report.findings] == ["overfitting"]


async def test_plain_words_answer_the_current_question(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "not sure")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("enter")  # the confirm button has the focus
        await idle(pilot)
        assert app.chat.report is not None and app.chat.report.answers["train_loss_large"].value == "unsure"


async def test_why_and_gibberish(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await type_line(pilot, "why?")
        assert "not every bad test result is overfitting" in texts(app)
        await type_line(pilot, "hello there")
        assert "didn't find an answer or a number" in texts(app)
        assert app.chat.report is not None and not app.chat.report.answers
