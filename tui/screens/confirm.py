"""Confirm what was understood from free text before anything is answered."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown


class ConfirmScreen(ModalScreen[bool]):
    """Shows the understanding; dismisses True (send it) or False (drop it)."""

    BINDINGS = [
        Binding("escape,n", "decline", "Not what I meant", id="decline"),
        Binding("y", "accept", "Confirm", id="accept"),
    ]

    def __init__(self, markdown: str, *, title: str = "Did I get that right?") -> None:
        super().__init__()
        self.markdown = markdown
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Markdown(f"### {self.title_text}\n\n{self.markdown}")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes, answer that [b]y[/]", id="confirm-yes", variant="success")
                yield Button("No [b]n[/]", id="confirm-no", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_accept(self) -> None:
        self.dismiss(True)

    def action_decline(self) -> None:
        self.dismiss(False)
