"""Curves drawn in the terminal for the live probe plot and the finding cards, on `assistant.plots`
(the project's plotting module: braille cells, each with the curve that owns it), coloured here with
Rich styles so the plot follows the widget's size and the theme.

Curves come in as `{name: [(x, y), ...]}`; NaN/inf points are kept (a diverged run shows them on the
top edge, as assistant.plots draws them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rich.text import Text

from assistant.plots import PALETTE, PlotCurve, plot_grid, svg_plot

Points = Sequence[tuple[float, float]]  # read-only (x, y) pairs: a CurvePoints list or a tuple

# Losses often fall by orders of magnitude; on a linear axis everything after the first steps is a
# flat line at the bottom. Positive curves spanning more than this ratio are drawn on a log axis.
LOG_RATIO = 100.0


def as_curves(curves: Mapping[str, Points]) -> list[PlotCurve]:
    return [
        PlotCurve(name, [float(x) for x, _ in pts], [float(y) for _, y in pts])
        for name, pts in curves.items()
        if pts
    ]


def use_log_scale(curves: Mapping[str, Points]) -> bool:
    ys = [y for pts in curves.values() for _, y in pts if math.isfinite(y)]
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > LOG_RATIO


def terminal_plot(curves: Mapping[str, Points], width: int, height: int, *, title: str = "") -> Text:
    """A plot `width` cells wide and `height` rows tall, legend and axis included."""
    data = as_curves(curves)
    if not any(math.isfinite(y) for c in data for y in c.y):
        return Text("no points yet", style="dim")
    log_y = use_log_scale(curves)
    gutter = 8
    rows, cols = max(3, height - 2), max(10, width - gutter - 1)
    grid = plot_grid(data, width=cols, height=rows, log_y=log_y, style="braille")
    text = Text(no_wrap=True, overflow="crop")
    legend = Text(no_wrap=True, overflow="ellipsis")
    if title:
        legend.append(title + (" (log scale)" if log_y else "") + "  ", style="bold")
    for index, curve in enumerate(data):
        legend.append("● ", style=PALETTE[index % len(PALETTE)])
        legend.append(curve.name + "  ")
    legend.truncate(width, overflow="ellipsis")
    text.append_text(legend)
    text.append("\n")
    labels = dict(grid.y_labels)
    for r, row in enumerate(grid.chars):
        text.append(labels.get(r, "").rjust(gutter)[-gutter:] + "│", style="dim")
        for c, ch in enumerate(row):
            owner = grid.owner[r][c]
            text.append(ch, style=PALETTE[owner % len(PALETTE)] if owner is not None and ch != " " else "")
        text.append("\n")
    axis = [" "] * cols
    for col, label in grid.x_labels:
        start = max(0, min(cols - len(label), col - len(label) // 2 if col else 0))
        axis[start : start + len(label)] = list(label)
    text.append(" " * gutter + "└" + "".join(axis), style="dim")
    return text


def svg_image(
    curves: Mapping[str, Points], *, title: str, x_label: str = "step", y_label: str = "loss"
) -> str:
    """The same curves as an SVG image for the exported report."""
    return svg_plot(
        as_curves(curves), title=title, log_y=use_log_scale(curves), x_label=x_label, y_label=y_label
    )
