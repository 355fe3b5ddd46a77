"""Plots of training curves for people: in the terminal (Unicode braille or marker glyphs) and as SVG.

No plotting library: a terminal plot is a character grid, an SVG a few polylines. Both take `PlotCurve`s
(a name, x values, y values; NaN/inf allowed and shown as a mark on the top edge, since a NaN loss is
the most important point of a diverged run) and optional vertical `Marker`s (best epoch, early stop).

    text = terminal_plot(curves, width=72, height=16, log_y=True, color=True)
    svg = svg_plot(curves, title="loss", markers=[Marker(4, "best val")])

`plot_grid` returns the cells with the curve that owns each, for the TUI to colour with its own styles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#8c564b", "#e377c2")
ANSI = ("34", "33", "32", "31", "35", "36", "90", "95")
GLYPHS = ("•", "×", "+", "o", "◆", "▲", "■", "*")
NAN_GLYPH = "!"
MAX_SVG_POINTS = 2000


@dataclass(frozen=True)
class PlotCurve:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    points: bool = False  # SVG: draw a dot at every point (a few measured values, e.g. per depth)
    line: bool = True  # SVG: join the points (False: dots only, e.g. one per seed)


Curve = PlotCurve  # the old name (tui/evidence.py's CurvePoints and history's CurveSummary are other shapes)


@dataclass(frozen=True)
class Marker:
    x: float
    label: str


@dataclass(frozen=True)
class Level:
    """A horizontal reference line: a baseline such as ln C, a target, a threshold."""

    y: float
    label: str


CHAR_W = 6.6  # an upper bound on a character's width at font-size 11 (sans-serif), for layout


# -- scales ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    log: bool = False

    def norm(self, v: float) -> float:
        if self.log:
            v = math.log10(v)
        return 0.5 if self.hi == self.lo else (v - self.lo) / (self.hi - self.lo)

    def value(self, t: float) -> float:
        v = self.lo + t * (self.hi - self.lo)
        return 10**v if self.log else v


def _drawable(v: float, log: bool) -> bool:
    return math.isfinite(v) and (v > 0 or not log)


def _scales(curves: Sequence[PlotCurve], log_y: bool, levels: Sequence[Level] = ()) -> tuple[_Scale, _Scale]:
    xs = [x for c in curves for x in c.x if math.isfinite(x)]
    ys = [y for c in curves for y in c.y if _drawable(y, log_y)]
    ys += [lv.y for lv in levels if ys and _drawable(lv.y, log_y)]  # a baseline is always in view
    if not xs or not ys:
        return _Scale(0.0, 1.0), _Scale(0.0, 1.0, log_y)
    if log_y:
        lo, hi = math.log10(min(ys)), math.log10(max(ys))
    else:
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.02
        lo, hi = lo - pad, hi + pad
    return _Scale(min(xs), max(xs)), _Scale(lo, hi, log_y)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Decades, plus 2x and 5x when the range spans fewer than three decades."""
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    mults = (1,) if hi - lo >= 3 else (1, 2, 5)
    ticks = [m * 10.0**d for d in decades for m in mults]
    inside = [t for t in ticks if lo - 1e-9 <= math.log10(t) <= hi + 1e-9]
    return inside or [10**lo]


def _label(v: float) -> str:
    if 1000 <= abs(v) < 1e7:
        return f"{v:.0f}"
    return f"{v:.3g}"


# -- terminal -------------------------------------------------------------------------------------

_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] of a braille cell


@dataclass
class PlotGrid:
    """Character cells of the plot area, each with the index of the curve drawn there (or None)."""

    chars: list[list[str]]
    owner: list[list[int | None]]
    y_labels: list[tuple[int, str]] = field(default_factory=list)  # (row, text)
    x_labels: list[tuple[int, str]] = field(default_factory=list)  # (column, text)
    legend: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _line(x0: int, y0: int, x1: int, y1: int) -> Iterable[tuple[int, int]]:
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err, x0 = err + dy, x0 + sx
        if e2 <= dx:
            err, y0 = err + dx, y0 + sy


def _braille(
    grid: PlotGrid, curves: Sequence[PlotCurve], sx: _Scale, sy: _Scale, width: int, height: int
) -> None:
    bits = [[0] * width for _ in range(height)]
    pw, ph = width * 2, height * 4
    for index, curve in enumerate(curves):
        prev: tuple[int, int] | None = None
        for x, y in zip(curve.x, curve.y, strict=False):
            if not math.isfinite(x):
                continue
            col = min(pw - 1, max(0, round(sx.norm(x) * (pw - 1))))
            if not _drawable(y, sy.log):
                if not math.isfinite(y):
                    grid.chars[0][col // 2], grid.owner[0][col // 2] = NAN_GLYPH, index
                prev = None
                continue
            point = (col, min(ph - 1, max(0, round((1 - sy.norm(y)) * (ph - 1)))))
            for px, py in _line(*(prev or point), *point):
                bits[py // 4][px // 2] |= _DOTS[py % 4][px % 2]
                if grid.chars[py // 4][px // 2] != NAN_GLYPH:
                    grid.owner[py // 4][px // 2] = index
            prev = point
    for r in range(height):
        for c in range(width):
            if bits[r][c] and grid.chars[r][c] != NAN_GLYPH:
                grid.chars[r][c] = chr(0x2800 + bits[r][c])


def _markers(
    grid: PlotGrid, curves: Sequence[PlotCurve], sx: _Scale, sy: _Scale, width: int, height: int
) -> None:
    """One glyph per curve for each column, over the rows between the column's lowest and highest
    value: noisy per-step losses show as a band. Readable without colour."""
    for index, curve in enumerate(curves):
        glyph = GLYPHS[index % len(GLYPHS)]
        columns: dict[int, list[float]] = {}
        for x, y in zip(curve.x, curve.y, strict=False):
            if not math.isfinite(x):
                continue
            col = min(width - 1, max(0, round(sx.norm(x) * (width - 1))))
            if not math.isfinite(y):
                grid.chars[0][col], grid.owner[0][col] = NAN_GLYPH, index
            elif _drawable(y, sy.log):
                columns.setdefault(col, []).append(y)
        for col, ys in columns.items():
            top = round((1 - sy.norm(max(ys))) * (height - 1))
            bottom = round((1 - sy.norm(min(ys))) * (height - 1))
            for row in range(max(0, top), min(height - 1, bottom) + 1):
                if grid.chars[row][col] != NAN_GLYPH:
                    grid.chars[row][col], grid.owner[row][col] = glyph, index


def plot_grid(
    curves: Sequence[PlotCurve],
    *,
    width: int = 64,
    height: int = 14,
    log_y: bool = False,
    style: str = "braille",
    markers: Sequence[Marker] = (),
) -> PlotGrid:
    width, height = max(10, width), max(4, height)
    sx, sy = _scales(curves, log_y)
    grid = PlotGrid(
        chars=[[" "] * width for _ in range(height)], owner=[[None] * width for _ in range(height)]
    )
    for m in markers:
        if math.isfinite(m.x) and sx.lo <= m.x <= sx.hi:
            col = min(width - 1, max(0, round(sx.norm(m.x) * (width - 1))))
            for row in range(height):
                grid.chars[row][col] = "┊"
            grid.notes.append(f"┊ {m.label} at {_label(m.x)}")
    (_markers if style == "markers" else _braille)(grid, curves, sx, sy, width, height)
    for row in sorted({0, height // 2, height - 1}):
        grid.y_labels.append((row, _label(sy.value(1 - row / (height - 1)))))
    grid.x_labels = [(0, _label(sx.lo)), (width // 2, _label(sx.value(0.5))), (width - 1, _label(sx.hi))]
    for index, curve in enumerate(curves):
        mark = GLYPHS[index % len(GLYPHS)] if style == "markers" else "━━"
        grid.legend.append(f"{mark} {curve.name}")
        if any(not math.isfinite(y) for y in curve.y):
            grid.notes.append(f"{NAN_GLYPH} {curve.name}: NaN/inf values, drawn on the top edge")
        if log_y and any(math.isfinite(y) and y <= 0 for y in curve.y):
            grid.notes.append(f"{curve.name}: values <= 0 not shown on a log scale")
    return grid


def render_grid(
    grid: PlotGrid, *, color: bool = False, title: str = "", x_label: str = "step", y_label: str = "loss"
) -> str:
    width = len(grid.chars[0])
    labels = dict(grid.y_labels)
    pad = max([len(t) for t in labels.values()] + [len(y_label)])
    out = [title] if title else []
    out.append(y_label.rjust(pad))
    for r, row in enumerate(grid.chars):
        cells = []
        for c, ch in enumerate(row):
            owner = grid.owner[r][c]
            if color and owner is not None and ch != " ":
                cells.append(f"\x1b[{ANSI[owner % len(ANSI)]}m{ch}\x1b[0m")
            else:
                cells.append(ch)
        out.append(f"{labels.get(r, '').rjust(pad)} ┤{''.join(cells)}")
    out.append(" " * pad + " └" + "─" * width)
    axis = [" "] * (width + 1)
    for col, text in grid.x_labels:
        start = max(0, min(width + 1 - len(text), col - len(text) // 2 if col else 0))
        axis[start : start + len(text)] = list(text)
    out.append(" " * (pad + 2) + "".join(axis).rstrip() + f"  {x_label}")
    legend = []
    for index, entry in enumerate(grid.legend):
        legend.append(f"\x1b[{ANSI[index % len(ANSI)]}m{entry}\x1b[0m" if color else entry)
    out.append(" " * (pad + 2) + "   ".join(legend))
    out += [" " * (pad + 2) + note for note in grid.notes]
    return "\n".join(out) + "\n"


def terminal_plot(
    curves: Sequence[PlotCurve],
    *,
    width: int = 64,
    height: int = 14,
    log_y: bool = False,
    color: bool = False,
    style: str | None = None,
    title: str = "",
    x_label: str = "step",
    y_label: str = "loss",
    markers: Sequence[Marker] = (),
) -> str:
    """Braille when colour tells the curves apart (or there is one curve), marker glyphs otherwise."""
    chosen = style or ("braille" if color or len(curves) == 1 else "markers")
    grid = plot_grid(curves, width=width, height=height, log_y=log_y, style=chosen, markers=markers)
    return render_grid(grid, color=color, title=title, x_label=x_label, y_label=y_label)


# -- SVG ------------------------------------------------------------------------------------------


def _thin(curve: PlotCurve, limit: int = MAX_SVG_POINTS) -> list[tuple[float, float]]:
    """Keep each bucket's lowest and highest point, so spikes survive thinning."""
    points = list(zip(curve.x, curve.y, strict=False))
    if len(points) <= limit:
        return points
    size = len(points) / (limit // 2)
    kept: list[tuple[float, float]] = []
    for b in range(limit // 2):
        chunk = points[int(b * size) : int((b + 1) * size)]
        finite = [p for p in chunk if math.isfinite(p[1])]
        bad = [p for p in chunk if not math.isfinite(p[1])]
        pick = sorted({min(finite, key=lambda p: p[1]), max(finite, key=lambda p: p[1])}) if finite else []
        kept += pick + bad[:1]
    return sorted(kept, key=lambda p: p[0])


def _svg_start(width: float, height: float, title: str) -> list[str]:
    """The opening of every SVG here: the element, a white page and the title (shortened to fit)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        shown = _fit(title, (width - 16) / (CHAR_W * 14 / 11))
        parts.append(
            f'<text x="{width / 2:.1f}" y="22" text-anchor="middle" font-size="14">{escape(shown)}</text>'
        )
    return parts


def svg_plot(
    curves: Sequence[PlotCurve],
    *,
    width: int = 720,
    height: int = 400,
    log_y: bool = False,
    title: str = "",
    x_label: str = "step",
    y_label: str = "loss",
    markers: Sequence[Marker] = (),
    levels: Sequence[Level] = (),
) -> str:
    """Curves as an SVG image. Every label is placed inside the image (never clipped): marker labels
    near the right edge are anchored at their end, close markers are staggered, level labels sit at
    the right end of their line, and long titles and legend names are shortened to fit."""
    left, right, top, bottom = 64, 16, 36 if title else 16, 64
    pw, ph = width - left - right, height - top - bottom
    sx, sy = _scales(curves, log_y, levels)

    def px(x: float) -> float:
        return left + sx.norm(x) * pw

    def py(y: float) -> float:
        return top + (1 - sy.norm(y)) * ph

    parts = _svg_start(width, height, title)
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    y_ticks = nice_ticks(sy.lo, sy.hi) if not log_y else _log_ticks(sy.lo, sy.hi)
    for value in y_ticks:
        y = top + (1 - sy.norm(value)) * ph
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_label(value))}</text>')
    for t in nice_ticks(sx.lo, sx.hi):
        x = px(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#888"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(_label(t))}</text>')
    parts.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 36}" text-anchor="middle">{escape(x_label)}{" (log y)" if log_y else ""}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2:.1f})">{escape(y_label)}</text>'
    )
    parts += _svg_levels(levels, sy, left, pw, top, ph)
    parts += _svg_markers(markers, sx, left, pw, top, ph)
    for index, curve in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
        segment: list[str] = []
        for x, y in _thin(curve):
            if math.isfinite(x) and _drawable(y, log_y):
                segment.append(f"{px(x):.1f},{py(y):.1f}")
                continue
            if len(segment) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(segment)}"/>'
                )
            segment = []
            if math.isfinite(x) and not math.isfinite(y):
                parts.append(
                    f'<text x="{px(x):.1f}" y="{top + 10}" fill="#d62728" text-anchor="middle">×</text>'
                )
        if len(segment) > 1 and curve.line:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(segment)}"/>'
            )
        elif len(segment) == 1 and not curve.points:
            cx, cy = segment[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        if curve.points:
            for x, y in zip(curve.x, curve.y, strict=False):
                if math.isfinite(x) and _drawable(y, log_y):
                    parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        # legend: three entries a row under the x axis label
        lx, ly = left + (index % 3) * (pw / 3), height - 20 + (index // 3) * 12
        parts.append(
            f'<line x1="{lx:.1f}" x2="{lx + 18:.1f}" y1="{ly - 4:.1f}" y2="{ly - 4:.1f}" stroke="{colour}" stroke-width="2"/>'
        )
        name = _fit(curve.name, (pw / 3 - 26) / CHAR_W)
        parts.append(f'<text x="{lx + 22:.1f}" y="{ly:.1f}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _fit(text: str, chars: float) -> str:
    """`text` shortened with an ellipsis to at most `chars` characters."""
    limit = max(4, int(chars))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg_levels(levels: Sequence[Level], sy: _Scale, left: int, pw: int, top: int, ph: int) -> list[str]:
    out: list[str] = []
    used: list[float] = []  # label baselines already taken: close levels stack their labels
    for level in sorted(levels, key=lambda lv: -lv.y):
        if not _drawable(level.y, sy.log):
            continue
        y = top + (1 - sy.norm(level.y)) * ph
        out.append(
            f'<line class="level" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#9467bd" stroke-width="1.2" stroke-dasharray="6 3"/>'
        )
        label = _fit(level.label, (pw - 8) / CHAR_W)
        below = y - 4 < top + 10  # at the top edge: the label goes under its line
        ty = y + 12 if below else y - 4
        while any(abs(ty - u) < 12 for u in used):
            ty += 12
        used.append(ty)
        out.append(
            f'<text class="level-label" x="{left + pw - 4}" y="{ty:.1f}" text-anchor="end" '
            f'fill="#9467bd">{escape(label)}</text>'
        )
    return out


def _svg_markers(markers: Sequence[Marker], sx: _Scale, left: int, pw: int, top: int, ph: int) -> list[str]:
    out: list[str] = []
    shown = [m for m in markers if math.isfinite(m.x) and sx.lo <= m.x <= sx.hi]
    for row, m in enumerate(sorted(shown, key=lambda m: m.x)):
        x = left + sx.norm(m.x) * pw
        out.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" '
            'stroke="#555" stroke-dasharray="4 3"/>'
        )
        label = _fit(m.label, (pw - 8) / CHAR_W)
        width = len(label) * CHAR_W
        # right of the line when it fits, else left of it (anchored at its end): never past the edge
        if x + 3 + width <= left + pw:
            tx, anchor = x + 3, "start"
        else:
            tx, anchor = max(x - 3, left + width), "end"
        # at the bottom of the plot (baselines sit near the top), staggered so close marks do not overprint
        ty = top + ph - 6 - 12 * (row % 3)
        out.append(
            f'<text class="marker-label" x="{tx:.1f}" y="{ty}" text-anchor="{anchor}" fill="#555">'
            f"{escape(label)}</text>"
        )
    return out


def svg_bars(
    bars: Sequence[tuple[str, float]], *, title: str = "", x_label: str = "", width: int = 720
) -> str:
    """Labelled horizontal bars (values may be negative; a zero line is drawn). The label column is
    as wide as the longest label, so no label is clipped; each value is printed at its bar."""
    finite = [(name, v) for name, v in bars if math.isfinite(v)]
    label_w = min(width * 0.45, max((len(n) for n, _ in finite), default=4) * CHAR_W + 12)
    value_w = 64
    top, row_h = (36 if title else 12), 22
    height = int(top + row_h * max(1, len(finite)) + 36)
    left, right = label_w, width - value_w
    lo = min([0.0] + [v for _, v in finite])
    hi = max([0.0] + [v for _, v in finite])
    span = (hi - lo) or 1.0

    def px(v: float) -> float:
        return left + (v - lo) / span * (right - left)

    parts = _svg_start(width, height, title)
    for i, (name, value) in enumerate(finite):
        y = top + i * row_h
        x0, x1 = sorted((px(0.0), px(value)))
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="{left - 6:.1f}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
        parts.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y + 4}" width="{max(1.0, x1 - x0):.1f}" height="{row_h - 8}" fill="{colour}"/>'
        )
        parts.append(f'<text x="{right + 4:.1f}" y="{y + 15}">{escape(_label(value))}</text>')
    zero = px(0.0)
    bottom = top + row_h * max(1, len(finite))
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{bottom}" stroke="#333"/>')
    if x_label:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{bottom + 22}" text-anchor="middle">{escape(x_label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def history_markers(analysis: dict) -> list[Marker]:
    """Where a history's analysis puts its marks: divergence, the best held-out point, early stop."""
    out: list[Marker] = []
    divergence = analysis.get("divergence") or {}
    if divergence.get("status") == "diverged" and divergence.get("step") is not None:
        out.append(Marker(divergence["step"], "diverged"))
    for check in (analysis.get("held_out") or [])[:1]:
        if check.get("best_step") is not None:
            out.append(Marker(check["best_step"], f"best {check['name']}"))
        stop = (check.get("early_stopping") or {}).get("stop_step")
        if stop is not None:
            out.append(Marker(stop, "early stop"))
    return out


def history_levels(analysis: dict) -> list[Level]:
    """The history's baseline (ln C for C classes, or the user's) as a horizontal line."""
    baseline = analysis.get("baseline") or {}
    value = baseline.get("value")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return []
    classes = baseline.get("classes")
    if baseline.get("kind") == "uniform" and classes:
        return [
            Level(float(value), f"ln {classes} = {value:.3g} (guessing uniformly over {classes} classes)")
        ]
    return [Level(float(value), f"baseline {value:.3g}")]
