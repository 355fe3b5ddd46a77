"""Change or withdraw an earlier answer: pick it from the list, then pick the new value."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList
from textual.widgets.option_list import Option

from assistant.models import Answer, Report
from tui.answer_parsing import display_value
from tui.transcript import question_text


@dataclass(frozen=True)
class ChangeRequest:
    question: str
    value: str  # yes, no, unsure, or "withdraw"


def _source(answer: Answer) -> str:
    if answer.source.value == "user":
        return "you"
    if answer.source.value == "probe":
        return f"measured: {answer.evidence.probe if answer.evidence else 'probe'}"
    return "from history"


class ChangeAnswerScreen(ModalScreen[ChangeRequest | None]):
    BINDINGS = [
        Binding("escape", "close", "Back", id="back"),
        Binding("y", "choose('yes')", "Yes", show=False),
        Binding("n", "choose('no')", "No", show=False),
        Binding("u", "choose('unsure')", "Not sure", show=False),
        Binding("d", "choose('withdraw')", "Withdraw", show=False),
    ]

    def __init__(self, report: Report, question: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.answers: dict[str, tuple[Answer, bool]] = {q: (a, True) for q, a in report.answers.items()}
        self.answers.update({q: (a, False) for q, a in report.inactive_answers.items()})
        self.selected: str | None = question if question in self.answers else None

    def compose(self) -> ComposeResult:
        with Vertical(id="change-box", classes="dialog"):
            yield Label(
                "[b]Change an earlier answer[/] — the conversation re-flows from there", id="change-title"
            )
            options = []
            for qid, (answer, active) in self.answers.items():
                suffix = "" if active else "  [dim](not on the current path)[/]"
                text = f"{question_text(qid, self.report)}\n  → [b]{display_value(answer.value)}[/] ({_source(answer)}){suffix}"
                options.append(Option(text, id=qid))
            yield OptionList(*options, id="change-list")
            yield Label("", id="change-selected")
            with Horizontal(classes="dialog-buttons", id="change-buttons"):
                yield Button("Yes [b]y[/]", id="set-yes", variant="success")
                yield Button("No [b]n[/]", id="set-no", variant="error")
                yield Button("Not sure [b]u[/]", id="set-unsure")
                yield Button("Withdraw [b]d[/]", id="set-withdraw", variant="warning")
                yield Button("Back [b]esc[/]", id="set-back")

    def on_mount(self) -> None:
        option_list = self.query_one("#change-list", OptionList)
        if self.selected is not None:
            option_list.highlighted = list(self.answers).index(self.selected)
            self._select(self.selected)
        elif self.answers:
            option_list.highlighted = 0
        option_list.focus()
        self._show_buttons()

    def _select(self, question: str) -> None:
        self.selected = question
        answer, _ = self.answers[question]
        self.query_one("#change-selected", Label).update(
            f"Change “{question_text(question, self.report)}” (now {display_value(answer.value)}) to:"
        )
        self._show_buttons()
        self.query_one("#set-yes", Button).focus()

    def _show_buttons(self) -> None:
        self.query_one("#change-buttons").display = self.selected is not None
        self.query_one("#change-selected").display = self.selected is not None

    @on(OptionList.OptionSelected, "#change-list")
    def pick(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self._select(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id == "set-back":
            self.action_close()
        elif button_id.startswith("set-"):
            self.action_choose(button_id.removeprefix("set-"))

    def action_choose(self, value: str) -> None:
        if self.selected is None:
            return
        self.dismiss(ChangeRequest(self.selected, value))

    def action_close(self) -> None:
        if self.selected is not None:
            self.selected = None
            self._show_buttons()
            self.query_one("#change-list", OptionList).focus()
            return
        self.dismiss(None)
