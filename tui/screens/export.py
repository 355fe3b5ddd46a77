"""Choose where to write the exported report (Markdown + SVG plots, and JSON)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ExportScreen(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "close", "Cancel", id="cancel-export")]

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="dialog"):
            yield Label("[b]Export the report[/] as Markdown (plots as SVG images) and JSON into:")
            yield Input(str(self.directory), id="export-dir")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export-go", variant="primary")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-go", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export-go":
            self._go()
        else:
            self.dismiss(None)

    def _go(self) -> None:
        text = self.query_one("#export-dir", Input).value.strip() or "."
        self.dismiss(Path(text).expanduser())

    def action_close(self) -> None:
        self.dismiss(None)
