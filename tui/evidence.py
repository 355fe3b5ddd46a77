"""Measured evidence as something a person reads: numbers, tables (the depth ladder), eigenvalues,
and the curves worth plotting.

Probes put their full result in `Evidence.data` (plain JSON). Rather than hard-coding each probe's
layout, this walks the data: scalars become a numbers table, lists of records with the same keys
become tables (the depth ladder is one), and lists of numbers long enough to be a curve are
returned for plotting. Pure functions; no Textual.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from assistant.models import Evidence

CurvePoints = list[tuple[float, float]]  # (x, y) pairs of one curve, as the TUI draws them
MAX_SCALARS = 14
MAX_ROWS = 24
MIN_CURVE_POINTS = 4
MAX_SHORT_LIST = 8  # lists up to this long are shown as numbers (e.g. a few eigenvalues)


def fmt_number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "—"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_numbers(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_number(v) or v is None for v in value)


def _is_pairs(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= MIN_CURVE_POINTS
        and all(isinstance(v, list | tuple) and len(v) == 2 and all(_is_number(x) for x in v) for v in value)
    )


def _is_records(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
        and any(any(not isinstance(x, list | dict) for x in v.values()) for v in value)
    )


# Plain words for the keys probes use most; any other key is shown with its underscores as spaces.
# The JSON export keeps the keys themselves (a contract for scripts).
PLAIN_WORDS = {
    "floor": "smallest difference that counts",
    "noise_margin": "noise margin",
    "lambda_max": "λ_max (largest curvature)",
    "lambda_min": "λ_min (smallest curvature)",
    "grad_norm": "gradient norm",
    "gradient_norm": "gradient norm",
    "lr": "learning rate",
    "trivial": "trivial baseline",
    "n_params": "parameters",
    "comparison": "depth comparison:",
}


def _plain(path: Sequence[str]) -> str:
    """A numbers-table row label in words (`comparison.floor` -> `depth comparison: smallest ...`)."""
    return " ".join(PLAIN_WORDS.get(part, part.replace("_", " ")) for part in path)


def _label(path: Sequence[str]) -> str:
    return ".".join(path)


def walk_scalars(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    for key, value in data.items():
        here = (*path, str(key))
        if isinstance(value, Mapping):
            yield from walk_scalars(value, here)
        elif _is_number(value) or isinstance(value, str | bool) or value is None:
            if isinstance(value, str) and len(value) > 80:
                continue
            yield _plain(here), fmt_number(value)
        elif _is_numbers(value) and len(value) <= MAX_SHORT_LIST:
            yield _plain(here), ", ".join(fmt_number(v) for v in value)


MAX_COLUMNS = 8  # wider records (a history's analysis per split) read better in the JSON export


def table_columns(rows: list[Mapping[str, Any]]) -> list[str]:
    """Scalar columns that hold something in at least one row."""
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and not isinstance(value, list | dict) and value is not None:
                columns.append(str(key))
    return columns


def walk_tables(
    data: Mapping[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """Lists of records worth a table: not curves (those are plotted), not too wide to read."""
    for key, value in data.items():
        here = (*path, str(key))
        if isinstance(value, Mapping):
            yield from walk_tables(value, here)
        elif (
            _is_records(value)
            and not all(_series(r) is not None for r in value)
            and 0 < len(table_columns(list(value))) <= MAX_COLUMNS
        ):
            yield _label(here), list(value)


# The density drawn on a log axis down to this fraction of its peak (PyHessian's plots do the same):
# the smoothed tails fall to 0, which a log axis cannot show, and outliers stay visible above it.
DENSITY_FLOOR = 1e-6


@dataclass(frozen=True)
class Spectrum:
    """The curvature probe's `density` (--density): the SLQ eigenvalue density on a grid, the
    Hutchinson trace and the estimated share of negative eigenvalues, all ESTIMATES."""

    points: CurvePoints  # (eigenvalue, density), floored at DENSITY_FLOOR x the peak for a log axis
    trace: float | None
    trace_error: float | None
    negative: float | None
    negative_error: float | None
    negative_range: tuple[float, float] | None

    def trace_text(self) -> str:
        if self.trace is None:
            return ""
        return f"trace ≈ {fmt_number(self.trace)}{_pm(self.trace_error)}"

    def negative_text(self) -> str:
        """The negative share with its range: the point estimate alone can be far off, the range not."""
        if self.negative is None:
            return ""
        share = f"negative share ≈ {self.negative:.1%}{_pm(self.negative_error, percent=True)}"
        if self.negative_range is not None:
            low, high = self.negative_range
            share += f" (bounded to {low:.1%}–{high:.1%})"
        return share

    def summary(self) -> str:
        """One line: the trace and the negative share with its range (the range is what to read)."""
        return "; ".join(part for part in (self.trace_text(), self.negative_text()) if part)


def _pm(error: float | None, *, percent: bool = False) -> str:
    if error is None or not math.isfinite(error):
        return ""
    return f" ± {error:.1%}" if percent else f" ± {fmt_number(error)}"


def _is_spectrum(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return (
        isinstance(value, Mapping)
        and _is_numbers(value.get("grid"))
        and _is_numbers(value.get("density"))
        and len(value["grid"]) == len(value["density"]) >= MIN_CURVE_POINTS
    )


def spectrum(data: Mapping[str, Any]) -> Spectrum | None:
    """The eigenvalue density in a curvature result, if it was measured."""
    raw = data.get("density")
    if not _is_spectrum(raw):
        return None
    pairs = [
        (float(x), float(y))
        for x, y in zip(raw["grid"], raw["density"], strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    peak = max((y for _, y in pairs), default=0.0)
    if peak <= 0:
        return None
    trace: Mapping[str, Any] = raw["trace"] if isinstance(raw.get("trace"), Mapping) else {}
    negative: Mapping[str, Any] = (
        raw["negative_share"] if isinstance(raw.get("negative_share"), Mapping) else {}
    )
    bounds = negative.get("range")
    return Spectrum(
        points=[(x, max(y, peak * DENSITY_FLOOR)) for x, y in pairs],
        trace=_finite(trace.get("estimate")),
        trace_error=_finite(trace.get("std_error")),
        negative=_finite(negative.get("estimate")),
        negative_error=_finite(negative.get("std_error")),
        negative_range=(float(bounds[0]), float(bounds[1]))
        if isinstance(bounds, list) and _is_numbers(bounds) and len(bounds) == 2 and None not in bounds
        else None,
    )


def _finite(value: Any) -> float | None:
    return float(value) if _is_number(value) and math.isfinite(value) else None


def curves(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, CurvePoints]:
    """Every curve in the data: lists of numbers (x = index), lists of [x, y] pairs, and the same
    inside records (named by the record's first scalar, e.g. 'depth 3 step_losses'). An eigenvalue
    density is not among them: its x is the grid, not the index (see `spectrum`)."""
    found: dict[str, CurvePoints] = {}
    for key, value in data.items():
        here = (*path, str(key))
        if _is_spectrum(value):
            continue
        if isinstance(value, Mapping):
            found.update(curves(value, here))
        elif _is_numbers(value) and len(value) >= MIN_CURVE_POINTS:
            points = [(float(i), float(v)) for i, v in enumerate(value) if v is not None and math.isfinite(v)]
            if len(points) >= 2:
                found[_label(here)] = points
        elif _is_pairs(value):
            found[_label(here)] = [(float(x), float(y)) for x, y in value if math.isfinite(y)]
        elif _is_records(value):
            for record in value:
                name = _record_name(record) or _label(here)
                series = _series(record)
                if series is not None:  # a history's curve: {"name", "steps", "values"}
                    found[name] = series
                    continue
                inner = curves(record)
                if len(inner) == 1:  # one curve per record (a depth's losses): name it by the record
                    found[name] = next(iter(inner.values()))
                else:
                    found.update({f"{name} {key}": pts for key, pts in inner.items()})
    return found


def _series(record: Mapping[str, Any]) -> CurvePoints | None:
    """A record holding one curve as parallel lists (steps/values or x/y); NaN (null) is kept."""
    for xs_key, ys_key in (("steps", "values"), ("x", "y")):
        xs, ys = record.get(xs_key), record.get(ys_key)
        if not (isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys) >= 2):
            continue
        if all(_is_number(x) for x in xs) and all(_is_number(y) or y is None for y in ys):
            return [(float(x), math.nan if y is None else float(y)) for x, y in zip(xs, ys, strict=True)]
    return None


def _record_name(record: Mapping[str, Any]) -> str:
    if isinstance(record.get("name"), str):
        return str(record["name"])
    for key, value in record.items():
        if not isinstance(value, list | dict):
            return f"{key} {fmt_number(value)}"
    return ""


def table_markdown(rows: list[Mapping[str, Any]]) -> str:
    columns = table_columns(rows)
    if not columns:
        return ""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(fmt_number(row.get(c)) for c in columns) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"| … {len(rows) - MAX_ROWS} more | " + " | ".join("" for _ in columns[1:]) + " |")
    return "\n".join(lines)


def evidence_markdown(evidence: Evidence, *, full: bool = False) -> str:
    """The rules applied (always), warnings, and with `full` the numbers and tables too."""
    lines: list[str] = []
    if full and evidence.summary:
        lines += [f"**{evidence.probe or evidence.source.value}:** {evidence.summary}", ""]
    lines += [f"- {rule}" for rule in evidence.rules]
    lines += [f"- ⚠ {w}" for w in evidence.warnings]
    if full:
        scalars = list(walk_scalars(evidence.data))
        if scalars:
            lines += ["", "| measured | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in scalars[:MAX_SCALARS]]
            if len(scalars) > MAX_SCALARS:
                lines.append(f"| … | {len(scalars) - MAX_SCALARS} more in the JSON export |")
        for name, rows in walk_tables(evidence.data):
            table = table_markdown(rows)
            if table:
                lines += ["", f"_{name}_", "", table]
    return "\n".join(lines).strip()
