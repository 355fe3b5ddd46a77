"""Terminal and SVG plots of curves: shapes land where they should, NaN stays visible, SVG is valid."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from assistant.plots import Curve, Marker, nice_ticks, plot_grid, svg_plot, terminal_plot

SVG = "{http://www.w3.org/2000/svg}"


def _falling(n: int = 50) -> Curve:
    return Curve("train", list(range(n)), [2.0 * math.exp(-i / 10) + 0.1 for i in range(n)])


def test_a_falling_curve_goes_from_top_left_to_bottom_right() -> None:
    grid = plot_grid([_falling()], width=40, height=10)
    cols_top = [c for c, ch in enumerate(grid.chars[0]) if ch != " "]
    cols_bottom = [c for c, ch in enumerate(grid.chars[-1]) if ch != " "]
    assert cols_top and min(cols_top) == 0
    assert cols_bottom and max(cols_bottom) == 39
    assert all("\u2800" <= ch <= "\u28ff" for row in grid.chars for ch in row if ch != " ")


def test_two_curves_without_colour_use_distinct_glyphs_and_a_legend() -> None:
    val = Curve("val", list(range(0, 50, 5)), [2.0, 1.0, 0.8, 0.7, 0.75, 0.8, 0.9, 1.0, 1.1, 1.2])
    text = terminal_plot([_falling(), val], width=50, height=12)
    assert "• train" in text and "× val" in text
    assert text.count("×") >= 10  # one mark per evaluation at least (plus the legend)
    assert "\x1b[" not in text


def test_colour_marks_the_owner_of_each_cell() -> None:
    text = terminal_plot([_falling(), Curve("val", [0, 49], [2.0, 1.0])], color=True)
    assert "\x1b[34m" in text and "\x1b[33m" in text


def test_nan_is_drawn_on_the_top_edge_and_noted() -> None:
    values = [1.0, 0.8, 0.6, math.nan, math.nan]
    grid = plot_grid([Curve("loss", list(range(5)), values)], width=20, height=6)
    assert "!" in "".join(grid.chars[0])
    assert any("NaN" in note for note in grid.notes)


def test_log_scale_labels_and_non_positive_values() -> None:
    c = Curve("loss", [0, 1, 2, 3], [10.0, 1.0, 0.1, 0.0])
    text = terminal_plot([c], log_y=True, width=20, height=7)
    assert "10" in text.splitlines()[1] and "0.1" in text
    assert "values <= 0 not shown" in text


def test_markers_and_axis_labels() -> None:
    text = terminal_plot([_falling()], markers=[Marker(25, "best val")], x_label="epoch", y_label="loss")
    assert "┊ best val at 25" in text and "epoch" in text and text.splitlines()[0].strip() == "loss"


def test_svg_is_well_formed_with_a_polyline_per_segment() -> None:
    broken = Curve("val", [0, 1, 2, 3, 4, 5], [1.0, 0.9, math.nan, 0.8, 0.7, 0.75])
    svg = svg_plot([_falling(), broken], title="run <1> & co", markers=[Marker(4, "best")], log_y=True)
    root = ET.fromstring(svg)
    polylines = root.findall(f"{SVG}polyline")
    assert len(polylines) == 3  # the falling curve, and the val curve split at its NaN
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "run <1> & co" in texts and "best" in texts and "×" in texts


def test_svg_thins_long_curves_but_keeps_the_spike() -> None:
    n = 100_000
    ys = [1.0 / (1 + i / 1000) for i in range(n)]
    ys[54_321] = 50.0
    root = ET.fromstring(svg_plot([Curve("loss", list(range(n)), ys)]))
    points = root.find(f"{SVG}polyline").get("points").split()
    assert len(points) <= 2000
    top = min(float(p.split(",")[1]) for p in points)
    assert top < 40  # the spike reaches the top of the plot area


def test_nice_ticks() -> None:
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0.013, 0.049)[0] >= 0.013
