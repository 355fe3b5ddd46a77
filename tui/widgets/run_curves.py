"""A watched run's curves as they stream in (`watch(..., server=URL)`): the training and held-out
losses, and lambda_max against the optimizer's stability limit when the run sends them.

Attributes down: the screen hands in the points it fetched (`add`); the widget only groups and draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from assistant.service_models import CurvePoint
from tui.widgets.curve_plot import CurvePlot

# The curves of the sharpness plot: lambda_max, and the threshold it is judged against (2/lr for SGD,
# the preconditioned threshold for Adam; docs/watch.md). Everything named "...loss" is a loss curve.
SHARPNESS = ("lambda_max", "stability_threshold")

Curves = dict[str, list[tuple[float, float]]]


def group_curves(curves: Mapping[str, Sequence[tuple[float, float]]]) -> tuple[Curves, Curves]:
    """(losses, sharpness): the training loss first, then the held-out losses by name; lambda_max and
    its threshold. Learning rate, gradient norm and metrics are not drawn here (other scales)."""
    ordered = sorted(curves.items(), key=lambda kv: (kv[0] != "loss", kv[0]))
    losses = {n: list(p) for n, p in ordered if n.endswith("loss")}
    sharpness = {n: list(curves[n]) for n in SHARPNESS if n in curves}
    return losses, sharpness


class RunCurves(Vertical):
    """Hidden until the first point arrives; a NaN/inf point (null) is kept as inf, which the plot
    draws on its top edge (a diverged run shows as one)."""

    DEFAULT_CSS = """
    RunCurves { height: auto; padding: 0 1; border-top: solid $primary; display: none; }
    RunCurves #run-curves-label { height: 1; color: $text-muted; }
    RunCurves Horizontal { height: 12; }
    RunCurves CurvePlot { height: 12; }
    RunCurves #run-sharpness { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curves: Curves = {}
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="run-curves-label")
        with Horizontal():
            yield CurvePlot(title="losses", id="run-losses")
            yield CurvePlot(title="lambda_max vs the stability limit", id="run-sharpness")

    def reset(self) -> None:
        """Another session opened: nothing drawn until its points come."""
        self.curves, self.total = {}, 0
        self.display = False

    def add(self, points: Iterable[CurvePoint], total: int) -> None:
        """Points as the service returns them, in arrival order (a later value at a step is kept too:
        the plot draws what arrived)."""
        for p in points:
            value = math.inf if p.value is None else p.value
            self.curves.setdefault(p.name, []).append((p.step, value))
        self.total = total
        losses, sharpness = group_curves(self.curves)
        if not losses and not sharpness:
            return
        self.display = True
        self.query_one("#run-losses", CurvePlot).replace(losses)
        plot = self.query_one("#run-sharpness", CurvePlot)
        plot.display = bool(sharpness)
        plot.replace(sharpness)
        last = max((x for pts in losses.values() for x, _ in pts), default=None)
        step = f" · last step {last:g}" if last is not None else ""
        self.query_one("#run-curves-label", Static).update(
            f"The watched run, streaming to the service: {total} points{step}"
        )
