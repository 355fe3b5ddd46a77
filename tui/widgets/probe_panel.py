"""A probe running in the background: its progress, a live plot of what it measures, and Cancel.

The screen feeds it `ProbeProgress` points (attributes down); it asks to cancel with a message.
Which curves the plot follows is decided by `tui.live.LiveCurves`.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, ProgressBar

from probes.base import ProbeProgress
from tui.live import LiveCurves
from tui.widgets.curve_plot import CurvePlot


class ProbePanel(Vertical):
    class CancelRequested(Message):
        pass

    def compose(self) -> ComposeResult:
        with Horizontal(id="probe-head"):
            yield Label("", id="probe-title")
            yield ProgressBar(total=None, show_eta=False, id="probe-progress")
            yield Button("Cancel [b]x[/]", id="probe-cancel", variant="warning", compact=True)
        yield Label("", id="probe-message")
        yield CurvePlot(id="probe-plot")

    live: LiveCurves = LiveCurves("")

    def start(self, probe: str) -> None:
        self.live = LiveCurves(probe)
        self.query_one("#probe-title", Label).update(f"[b]Measuring:[/] {probe}")
        self.query_one("#probe-message", Label).update("starting…")
        self.query_one("#probe-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#probe-plot", CurvePlot).replace({}, title=probe)
        self.query_one("#probe-cancel", Button).disabled = False

    def advance(self, progress: ProbeProgress) -> None:
        self.live.add(progress)
        if self.live.bar is not None:
            done, total = self.live.bar
            self.query_one("#probe-progress", ProgressBar).update(total=total, progress=done)
        estimates = "  ".join(f"{k}={v:.4g}" for k, v in list(progress.estimate.items())[:4])
        text = " · ".join(p for p in (progress.message, estimates) if p)
        self.query_one("#probe-message", Label).update(text)
        self.query_one("#probe-plot", CurvePlot).replace(self.live.curves(), title=self.live.title())

    def cancelling(self) -> None:
        self.query_one("#probe-cancel", Button).disabled = True
        self.query_one("#probe-message", Label).update("cancelling…")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "probe-cancel":
            event.stop()
            self.post_message(self.CancelRequested())
