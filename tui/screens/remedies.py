"""What trying the remedies measured on the user's setup: the recommendation, the before/after table
(assistant.remedies.remedies_markdown, the same text as the CLI and the export) and a before/after plot
of the baseline's held-out curve against each remedy's."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown, Static

from assistant.remedies import remedies_markdown
from probes.remedies.result import CurvePoint, RemedyReport
from tui.evidence import CurvePoints
from tui.widgets.curve_plot import CurvePlot


def _points(curve: list[CurvePoint], metric: str) -> CurvePoints:
    """The judged split's curve where it was measured, else the training loss (a remedy without
    held-out points, e.g. longer training on the training loss)."""
    held = [(float(p.step), float(p.val)) for p in curve if p.val is not None]
    if metric != "train" and held:
        return held
    return [(float(p.step), float(p.train)) for p in curve if p.train is not None]


def before_after_curves(report: RemedyReport) -> dict[str, CurvePoints]:
    """One curve for the baseline ("before") and one per remedy that was tried and has a curve."""
    curves: dict[str, CurvePoints] = {}
    base = _points(report.baseline_curve, report.metric)
    if base:
        curves["before (your setup)"] = base
    for remedy in report.remedies:
        points = _points(remedy.curve, report.metric)
        if points and remedy.status != "not_tried":
            name = remedy.id if remedy.id not in curves else f"{remedy.id} {remedy.setting}"
            curves[name] = points
    return curves


class RemediesScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "dismiss_screen", "Close")]

    DEFAULT_CSS = """
    RemediesScreen { align: center middle; }
    #remedies-box { width: 95%; height: 95%; border: round $accent; background: $surface; padding: 0 1; }
    #remedies-plot { height: 14; }
    """

    def __init__(self, report: RemedyReport, finding_title: str = "") -> None:
        super().__init__()
        self.report = report
        self.finding_title = finding_title

    def compose(self) -> ComposeResult:
        rr = self.report
        with VerticalScroll(id="remedies-box"):
            title = f"Tried on your setup: {self.finding_title or ', '.join(rr.findings)}"
            yield Static(f"[b]{title}[/b]", markup=True, id="remedies-title")
            verdict = "Nothing I tried helps." if rr.nothing_helps else f"Best measured step: {rr.best}."
            yield Static(verdict, id="remedies-verdict")
            curves = before_after_curves(rr)
            if curves:
                yield CurvePlot(curves, title=f"{rr.metric} loss before and after", id="remedies-plot")
            yield Markdown(remedies_markdown(rr), id="remedies-table")
            yield Button("Close (esc)", id="remedies-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "remedies-close":
            self.dismiss(None)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)
