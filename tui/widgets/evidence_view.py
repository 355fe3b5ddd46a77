"""One piece of measured evidence inside a finding card: the rules applied, the numbers, the tables
(the depth ladder), and the curves as a plot. Compact Rich tables, so a card stays readable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from assistant.models import Evidence
from tui.evidence import (
    MAX_ROWS,
    MAX_SCALARS,
    CurvePoints,
    curves,
    fmt_number,
    spectrum,
    table_columns,
    walk_scalars,
    walk_tables,
)
from tui.widgets.curve_plot import CurvePlot

MAX_CURVES_PER_PLOT = 8


def numbers_table(pairs: list[tuple[str, str]]) -> Table:
    """Key/value pairs two to a row, so a dozen numbers take six lines."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for _ in range(2):
        table.add_column("measured", style="dim")
        table.add_column("value", justify="right")
    shown = pairs[:MAX_SCALARS]
    for i in range(0, len(shown), 2):
        row = [*shown[i], *(shown[i + 1] if i + 1 < len(shown) else ("", ""))]
        table.add_row(*row)
    if len(pairs) > MAX_SCALARS:
        table.caption = f"{len(pairs) - MAX_SCALARS} more in the JSON export"
    return table


def records_table(name: str, rows: list[Mapping[str, Any]]) -> Table | None:
    columns = table_columns(rows)
    if not columns:
        return None
    table = Table(title=name, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows[:MAX_ROWS]:
        table.add_row(*(fmt_number(row.get(c)) for c in columns))
    if len(rows) > MAX_ROWS:
        table.caption = f"{len(rows) - MAX_ROWS} more rows in the JSON export"
    return table


class EvidenceView(Vertical):
    DEFAULT_CSS = """
    EvidenceView { height: auto; }
    EvidenceView > Static { height: auto; margin: 1 0 0 0; }
    EvidenceView > Markdown { margin: 0; }
    """

    def __init__(self, evidence: Evidence, seen: Mapping[str, CurvePoints] | None = None) -> None:
        """`seen`: curves watched live while this run measured it (probe results keep only numbers)."""
        super().__init__(classes="evidence")
        self.evidence = evidence
        self.seen = dict(seen or {})

    def compose(self) -> ComposeResult:
        ev = self.evidence
        lines = [f"**{ev.probe or ev.source.value}:** {ev.summary}"] if ev.summary else []
        lines += [f"- {rule}" for rule in ev.rules] + [f"- ⚠ {w}" for w in ev.warnings]
        if lines:
            yield Markdown("\n".join(lines))
        pairs = list(walk_scalars(ev.data))
        if pairs:
            yield Static(numbers_table(pairs), classes="evidence-numbers")
        for name, rows in walk_tables(ev.data):
            table = records_table(name, rows)
            if table is not None:
                yield Static(table, classes="evidence-table")
        density = spectrum(ev.data)
        if density is not None:  # --density: the shape of the spectrum, and what it says in numbers
            yield CurvePlot(
                {"density": density.points},
                title="eigenvalue density over λ (ESTIMATE)",
                classes="card-plot density-plot",
            )
            if density.summary():
                yield Static(density.summary(), classes="density-summary")
        found = curves(ev.data)
        if found:
            shown = dict(list(found.items())[:MAX_CURVES_PER_PLOT])
            yield CurvePlot(shown, title=ev.probe or "curves", classes="card-plot")
        elif self.seen:
            shown = dict(list(self.seen.items())[:MAX_CURVES_PER_PLOT])
            what = "estimates per iteration" if ev.probe == "curvature" else "training loss per step"
            yield CurvePlot(shown, title=f"{what}, as measured in this run", classes="card-plot")
