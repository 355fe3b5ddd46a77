"""A history that cannot settle the training-loss question says what would (its outcome's `needs`),
and the chat asks for it in words the free-text box understands.

Ground truth: a real HF Trainer log (tests/data/real_histories, provenance in its PROVENANCE.md),
MohamedYoussef06 ai201-project3-takemeter: 30 steps, loss 1.096 -> 1.033, no config beside the file, so
the class count is not in it (tests/history/test_real_histories.py). The model has 3 classes; ln 3 =
1.0986 is what guessing scores, and 1.033 / 1.0986 = 94% of it: the training loss IS large.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import REAL_HISTORIES
from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.screens.confirm import ConfirmScreen
from tui.widgets.chat_message import ChatMessage

pytestmark = pytest.mark.slow  # a history read in a spawned child per apply: 20-40 s on 2 shared cores
RUN = next(REAL_HISTORIES.glob("hf_trainer_state/MohamedYoussef06*"))


async def test_the_chat_asks_for_the_class_count_and_the_answer_follows(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app(history=str(RUN))
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        before = [m.source for m in app.screen.query(ChatMessage) if m.id == "ask-train_loss_large"]
        assert before and "How many classes" not in before[0]  # not read yet: nothing to ask for
        await pilot.press("a")
        await idle(pilot)
        report = app.chat.report
        assert report is not None and "train_loss_large" not in report.answers
        assert app.chat.current is not None and app.chat.current.id == "train_loss_large"
        asked = [m.source for m in app.screen.query(ChatMessage) if m.id == "ask-train_loss_large"]
        assert len(asked) == 1 and "How many classes" in asked[0], asked
        await pilot.press("i")
        await pilot.press(*"3 classes")
        await pilot.press("enter")
        await pilot.pause()
        await idle(pilot)  # the history read again with the class count
        answer = app.chat.report.answers["train_loss_large"]
        assert answer.value == "yes" and answer.source.value == "history"  # 1.033 / ln 3 = 94%
        assert app.chat.current is not None and app.chat.current.id != "train_loss_large"


async def test_a_typed_loss_with_the_class_count_is_the_users_answer(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app(history=str(RUN))
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await idle(pilot)
        await pilot.press("i")
        await pilot.press(*"train loss 1.033, 3 classes")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "ln 3" in app.screen.markdown  # type: ignore[attr-defined]
        await pilot.press("y")
        await idle(pilot)
        answer = app.chat.report.answers["train_loss_large"]
        assert answer.value == "yes" and answer.source.value == "user"
