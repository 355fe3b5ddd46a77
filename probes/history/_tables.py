"""CSV histories: Lightning's CSVLogger, Keras's CSVLogger, and plain per-epoch tables.

Read row by row (the file is never held whole). Lightning writes sparse rows (a training row has
`train_loss_step`, a validation row `val_loss`, the others empty) with `epoch` and `step` columns;
Keras writes one dense row per epoch starting with `epoch`. Columns are found by name.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._models import Axis, History
from probes.history._names import classify

DELIMITERS = (",", "\t", ";")
MAX_COLUMNS = 10_000  # a metrics table has tens of columns; 2 million columns is not one


def _names_header(fields: list[str]) -> bool:
    """A header row is short names, not a log line that happens to contain commas."""
    return any(re.search(r"[A-Za-z]", f) for f in fields) and all(
        len(f) <= 64 and not re.search(r"[:{}=<>]", f) for f in fields
    )


def pick_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits a header of names and the next lines into the same number (>= 2)
    of fields."""
    best, best_count = None, 1
    for delim in DELIMITERS:
        try:
            rows = list(csv.reader(lines[:5], delimiter=delim))
        except csv.Error:
            continue
        counts = [len(row) for row in rows]
        if (
            counts
            and counts[0] > best_count
            and all(c == counts[0] for c in counts[1:])
            and _names_header(rows[0])
        ):
            best, best_count = delim, counts[0]
    return best


def _axis_columns(header: list[str]) -> tuple[int | None, int | None]:
    lower = [h.strip().lower() for h in header]
    step = next((i for i, h in enumerate(lower) if h in ("step", "global_step", "steps", "iteration")), None)
    epoch = next((i for i, h in enumerate(lower) if h in ("epoch", "epochs")), None)
    return step, epoch


def read_csv(lines: Iterable[str], source: str, delimiter: str = ",") -> History:
    try:
        return _read_csv(lines, source, delimiter)
    except csv.Error as exc:
        raise ProbeError(f"{source}: malformed CSV ({exc})") from None


def _read_csv(lines: Iterable[str], source: str, delimiter: str) -> History:
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ProbeError(f"{source}: empty CSV")
    if len(header) > MAX_COLUMNS:
        raise ProbeError(
            f"{source}: CSV with {len(header):,} columns (more than {MAX_COLUMNS:,}): not a metrics table"
        )
    step_col, epoch_col = _axis_columns(header)
    columns = [(i, h) for i, h in enumerate(header) if i not in (step_col, epoch_col) and classify(h)]
    loss_columns = [h for i, h in columns if (k := classify(h)) is not None and k.role == "loss"]
    if not loss_columns:
        shown = ", ".join(h for h in header[:12]) + (", ..." if len(header) > 12 else "")
        raise ProbeError(
            f"{source}: CSV has no loss column (columns: {shown}); expected e.g. loss, train_loss, val_loss"
        )
    x: Axis = "step" if step_col is not None else "epoch" if epoch_col is not None else "index"
    builder = SeriesBuilder(x)
    rows = sparse = 0
    runs, run_start, last_position = 1, 1, None
    for row in reader:
        if not row:
            continue
        rows += 1
        epoch = to_float(row[epoch_col]) if epoch_col is not None and epoch_col < len(row) else None
        position = to_float(row[step_col]) if step_col is not None and step_col < len(row) else epoch
        if position is None:
            position = float(rows - 1)
        if last_position is not None and position < last_position:
            # the step/epoch counter went back: another run appended to the same file
            builder.restart()
            runs, run_start = runs + 1, rows
        last_position = position
        filled = 0
        for i, name in columns:
            if i < len(row) and row[i] != "":
                try:
                    value: float | None = float(row[i])  # also parses nan, inf, Infinity
                except ValueError:
                    value = to_float(row[i])  # '12.5%', junk
                if value is not None:
                    builder.add(name, position, value, epoch)
                    filled += 1
        sparse += filled < len(columns)
    fmt = "csv"
    lower = [h.strip().lower() for h in header]
    if step_col is not None and epoch_col is not None and sparse > rows // 2:
        fmt = "lightning_csv"
    elif lower and lower[0] == "epoch":
        fmt = "keras_csv"
    warnings = []
    if runs > 1:
        warnings.append(
            f"the {'step' if x == 'step' else 'epoch'} counter starts again {runs - 1} time(s): {runs} runs appended "
            f"in one file; only the last (from data row {run_start}) is analysed"
        )
    return History(
        source=source,
        format=fmt,
        series=builder.build(),
        notes=[f"{rows} rows, loss columns: {', '.join(loss_columns)}"],
        warnings=warnings,
    )
