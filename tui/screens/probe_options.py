"""The probe options dialog (`o`, or "Probe options" in the command palette): one field per option
the probe declares in `probes.registry` (depths and seeds for the depth ladder, samples and
thresholds for the curvature probe), each showing its default. An empty field keeps the default.

A value that does not parse keeps the dialog open with a one-line message naming the field; what
was typed stays in the fields.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from probes.registry import PROBES, ProbeOption


def parse_options(probe: str, texts: dict[str, str]) -> dict[str, Any]:
    """Typed option values from the fields' texts; raises ValueError naming the field and the fix."""
    out: dict[str, Any] = {}
    for opt in PROBES[probe].options:
        text = texts.get(opt.name, "").strip()
        if not text:
            continue
        if opt.choices and text not in opt.choices:
            raise ValueError(f"{opt.name}: choose one of {', '.join(opt.choices)} (got {text!r})")
        if text.lower() in opt.words:  # e.g. samples: all
            out[opt.name] = text.lower()
            continue
        if opt.type is bool:  # bool("no") is True: read the word instead
            if text.lower() not in YES | NO:
                raise ValueError(f"{opt.name}: yes or no (got {text!r})")
            out[opt.name] = text.lower() in YES
            continue
        try:
            value = opt.type(text)
        except ValueError:
            raise ValueError(f"{opt.name}: {_kind(opt)} expected (got {text!r})") from None
        if opt.name == "depths":
            _check_depths(text)
        elif isinstance(value, int | float) and value <= 0:
            raise ValueError(f"{opt.name}: must be positive (got {text!r})")
        out[opt.name] = value
    return out


YES = frozenset({"yes", "y", "true", "on", "1"})
NO = frozenset({"no", "n", "false", "off", "0"})


def _kind(opt: ProbeOption) -> str:
    kind = {int: "a whole number", float: "a number"}.get(opt.type, "text")
    return " or ".join([kind, *(repr(w) for w in opt.words)])


def shown_default(opt: ProbeOption) -> str:
    """The default as a user reads it: the registry's words for one that depends on other options."""
    if opt.shown_default:
        return opt.shown_default
    if opt.type is bool:
        return "yes" if opt.default else "no"
    return str(opt.default)


def _check_depths(text: str) -> None:
    try:
        depths = [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise ValueError(f"depths: whole numbers separated by commas, e.g. 1,2,4 (got {text!r})") from None
    if len(depths) < 2 or any(d < 0 for d in depths):
        raise ValueError("depths: at least two depths of 0 or more, e.g. 1,2,4")


class ProbeOptionsScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [Binding("escape", "close", "Cancel", id="cancel-options")]

    def __init__(self, probe: str, current: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.probe = probe
        self.current = current or {}

    def compose(self) -> ComposeResult:
        spec = PROBES[self.probe]
        with Vertical(id="options-box", classes="dialog"):
            yield Label(f"[b]Options of the {self.probe} probe[/] — {spec.description}")
            yield Label("An empty field keeps the default.", classes="dim")
            with VerticalScroll(id="options-fields"):
                for opt in spec.options:
                    choices = f"; one of {', '.join(opt.choices)}" if opt.choices else ""
                    choices = "; yes or no" if opt.type is bool else choices
                    yield Label(f"{opt.name}: {opt.help} (default: {shown_default(opt)}{choices})")
                    value = self.current.get(opt.name)
                    if isinstance(value, bool):
                        value = "yes" if value else "no"
                    yield Input(
                        "" if value is None else str(value),
                        placeholder=f"default: {shown_default(opt)}",
                        id=f"option-{opt.name}",
                        compact=True,  # one row each: the form fits at 80x24
                    )
            yield Label("", id="options-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use these", id="options-go", variant="primary", compact=True)
                yield Button("Defaults", id="options-reset", compact=True)
                yield Button("Cancel", id="options-cancel", compact=True)

    def on_mount(self) -> None:
        fields = list(self.query(Input))
        if fields:
            fields[0].focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "options-go":
            self._go()
        elif event.button.id == "options-reset":
            self.dismiss({})
        else:
            self.dismiss(None)

    def _go(self) -> None:
        texts = {
            opt.name: self.query_one(f"#option-{opt.name}", Input).value for opt in PROBES[self.probe].options
        }
        try:
            options = parse_options(self.probe, texts)
        except ValueError as exc:
            self.query_one("#options-error", Label).update(f"[b red]{exc}[/]")
            return
        self.dismiss(options)

    def action_close(self) -> None:
        self.dismiss(None)
