"""Issue 10 in the TUI: the user's answer kept over a measurement that said otherwise is shown, in plain
words, in the chat and on the finding cards that rest on it.

Ground truth: a real HF Trainer log (tests/data/real_histories, provenance in its PROVENANCE.md),
Nicolassalvan/mti881-projet2 ResultsEtape3. Read by hand: the training loss ends at 0.035 while
eval_loss ends at 1.23, 35x higher and rising since epoch 2, so the validation loss is large (the
reader's val_loss_large = yes, tests/core/test_disagreements.py); the user then answers no.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rules import KNOWLEDGE
from tests.conftest import REAL_HISTORIES
from tests.tui.conftest import idle, ready, wait_for
from tui import TraindocApp
from tui.screens.change_answer import ChangeAnswerScreen
from tui.widgets.chat_message import ChatMessage
from tui.widgets.finding_card import FindingCard

pytestmark = pytest.mark.slow  # a history read in a spawned child per apply: 20-40 s on 2 shared cores
RUN = next(REAL_HISTORIES.glob("hf_trainer_state/*ResultsEtape3*"))


async def test_the_users_no_over_the_measured_yes_is_shown(make_app: Callable[..., TraindocApp]) -> None:
    app = make_app(history=str(RUN))
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        await pilot.press("a")  # everything the history can answer
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        assert report.answers["val_loss_large"].value == "yes"
        assert not report.disagreements
        app.chat.action_change("val_loss_large")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeAnswerScreen), what="the change dialog")
        await pilot.press("n")
        await idle(pilot)
        report = app.chat.report
        assert report is not None and [(d.question, d.value, d.measured) for d in report.disagreements] == [
            ("val_loss_large", "no", "yes")
        ]
        question = KNOWLEDGE.questions["val_loss_large"].text
        notes = [m.source for m in app.screen.query(ChatMessage) if m.id == "disagree-val_loss_large"]
        assert len(notes) == 1
        said = f"To “{question}” you answered **no**; your training history measured **yes**: "
        assert notes[0].startswith(said), notes[0]
        assert "eval_loss ends at 1.23" in notes[0]  # the measurement's own summary, not an id
        cards = list(app.screen.query(FindingCard))
        assert cards and all(c.finding.id != "overfitting" for c in cards)  # the user's branch
        resting = [c for c in cards if any("val_loss_large" in r.answers for r in c.finding.because)]
        assert resting and all(c.query(".card-disagreements") for c in resting)
        assert all(question in c.disagreements[0] for c in resting)
        # withdrawn again: the measurement is back in force and the disagreement is gone
        app.chat.action_change("val_loss_large")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeAnswerScreen), what="the change dialog")
        await pilot.press("y")
        await idle(pilot)
        assert app.chat.report is not None and not app.chat.report.disagreements
        assert not [m for m in app.screen.query(ChatMessage) if m.id == "disagree-val_loss_large"]
