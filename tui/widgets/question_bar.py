"""The current question's choices: yes / no / not sure, why, and measure it.

Attributes down (`show`), messages up (`Answered`, `WhyRequested`, `MeasureRequested`); the screen
does the talking to the service.
"""

from __future__ import annotations

from typing import Literal

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Label

from assistant.models import QuestionPublic
from rules.schema import ANSWER_VALUES

MeasureKind = Literal["probe", "history", None]


class QuestionBar(Horizontal):
    class Answered(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    class WhyRequested(Message):
        pass

    class MeasureRequested(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Label("", id="question-label")
        yield Button("Yes [b]y[/]", id="answer-yes", variant="success", compact=True)
        yield Button("No [b]n[/]", id="answer-no", variant="error", compact=True)
        yield Button("Not sure [b]u[/]", id="answer-unsure", compact=True)
        yield Button("Why? [b]w[/]", id="why", compact=True)
        yield Button("Measure it [b]m[/]", id="measure", variant="primary", compact=True)

    def show(self, question: QuestionPublic | None, measure: MeasureKind, *, busy: bool = False) -> None:
        """Put `question` on the bar (None: the diagnosis is complete)."""
        label = self.query_one("#question-label", Label)
        if question is None:
            label.update(
                "Diagnosis complete — [b]e[/] export · [b]c[/] change an answer · [b]ctrl+n[/] new session"
            )
        else:
            label.update(f"[b]{escape(question.text)}[/]")  # the question's words, never its id
        for button in self.query(Button):
            button.display = question is not None
            button.disabled = busy
        measure_button = self.query_one("#measure", Button)
        measure_button.display = question is not None and measure is not None
        measure_button.label = "Read history [b]m[/]" if measure == "history" else "Measure it [b]m[/]"

    def suggest(self, value: str | None) -> None:
        """Highlight the answer the user's own words suggested (they still press it)."""
        for v in ANSWER_VALUES:
            self.query_one(f"#answer-{v}", Button).set_class(v == value, "-suggested")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id.startswith("answer-"):
            self.post_message(self.Answered(button_id.removeprefix("answer-")))
        elif button_id == "why":
            self.post_message(self.WhyRequested())
        elif button_id == "measure":
            self.post_message(self.MeasureRequested())
