"""Collecting (name, x, value) points from any reader into classified, sorted `Series`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from probes.history._models import Axis, Series
from probes.history._names import Kind, classify
from traindoc.errors import TooManyPoints as TooManyPoints  # its home is the one error tree

_SPECIAL = {"nan": math.nan, "+nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf}
_SPECIAL |= {"-inf": -math.inf, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}


def to_float(value: object) -> float | None:
    """A logged number, or None when the cell is empty or not a number. NaN/inf strings are numbers:
    they are the evidence of divergence."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("%")
    if not text:
        return None
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    try:
        return float(text)
    except ValueError:
        return None


MAX_POINTS = 2_000_000  # per history: ~450 MB at most (measured); a 100k-step HF run logs ~300k values


@dataclass
class _Points:
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    kind: Kind | None = None
    eval_set: str | None = None


class SeriesBuilder:
    """Points arrive in file order; `build` classifies each name once and sorts by x (stable)."""

    def __init__(self, x: Axis) -> None:
        self.x = x
        self._points: dict[str, _Points] = {}
        self.count = 0

    def add(self, name: str, step: float, value: float, epoch: float | None = None) -> None:
        self.count += 1
        if self.count > MAX_POINTS:
            raise TooManyPoints(
                f"more than {MAX_POINTS:,} logged values: too large to analyse in bounded memory "
                "(log less often, or give one run's file)"
            )
        pts = self._points.get(name)
        if pts is None:
            pts = self._points[name] = _Points()
        pts.steps.append(step)
        pts.values.append(value)
        pts.epochs.append(math.nan if epoch is None else epoch)

    def extend(self, name: str, steps: list[float], values: list[float]) -> None:
        """`add` for each (step, value) of one curve, without epochs: one call for a whole curve (a
        watched run's end builds its history from curves of thousands of points)."""
        self.count += len(steps)
        if self.count > MAX_POINTS:
            self.count -= len(steps)
            for step, value in zip(steps, values, strict=True):  # raises at the same point as `add`
                self.add(name, step, value)
        pts = self._points.get(name)
        if pts is None:
            pts = self._points[name] = _Points()
        pts.steps.extend(steps)
        pts.values.extend(values)
        pts.epochs.extend([math.nan] * len(steps))

    def describe(self, name: str, kind: Kind | None, eval_set: str | None = None) -> None:
        """Override the classification of a name (readers that know their format better)."""
        pts = self._points.setdefault(name, _Points())
        pts.kind, pts.eval_set = kind, eval_set

    def restart(self) -> None:
        """A new run begins in the same file: forget the previous run's points."""
        self._points.clear()

    def names(self) -> list[str]:
        return list(self._points)

    def build(self) -> list[Series]:
        out: list[Series] = []
        for name, pts in self._points.items():
            kind = pts.kind or classify(name)
            if kind is None or not pts.values:
                continue
            order = sorted(range(len(pts.steps)), key=pts.steps.__getitem__)
            if order != list(range(len(order))):
                pts.steps = [pts.steps[i] for i in order]
                pts.values = [pts.values[i] for i in order]
                pts.epochs = [pts.epochs[i] for i in order]
            has_epochs = any(not math.isnan(e) for e in pts.epochs)
            out.append(
                Series.model_construct(
                    name=name,
                    role=kind.role,
                    split=kind.split,
                    eval_set=pts.eval_set,
                    x=self.x,
                    steps=pts.steps,
                    values=pts.values,
                    epochs=pts.epochs if has_epochs else None,
                    higher_is_better=kind.higher_is_better,
                )
            )
        return out
