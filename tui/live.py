"""What the live plot of a running probe shows, decided from the progress points alone.

Progress arrives from nested loops: a probe trains models (probe "training", x = step, one series
per depth), runs Lanczos (probe "curvature", lambda_max / lambda_min per iteration), and may also
re-report a finished training as one summary point (the depth probe: probe "depth", x = rung).
Points are kept apart by the probe that reported them (their x axes differ), and the plot follows the
loop that reported last. A namespace whose series all repeat another's is a summary and is not drawn,
so the depth ladder's per-rung points never replace the training curves they summarise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.base import ProbeProgress
from tui.evidence import CurvePoints

MAX_CURVES = 12
MIN_POINTS = 4  # a kept curve needs at least this many points


@dataclass
class LiveCurves:
    job_probe: str
    spaces: dict[str, dict[str, CurvePoints]] = field(default_factory=dict)
    series: dict[str, set[str]] = field(default_factory=dict)
    shown: str | None = None
    bar: tuple[int, int] | None = None  # (done, total) for the progress bar
    outer_seen: bool = False  # the job's own probe reported: its progress drives the bar

    def add(self, point: ProbeProgress) -> None:
        if point.probe == self.job_probe:
            self.outer_seen = True
        if point.total > 0 and (point.probe == self.job_probe or not self.outer_seen):
            self.bar = (min(point.done, point.total), point.total)
        if not point.estimate:
            return
        space = self.spaces.setdefault(point.probe, {})
        if point.series:
            self.series.setdefault(point.probe, set()).add(point.series)
        for key, value in point.estimate.items():
            name = self._curve_name(space, f"{point.series} {key}" if point.series else key, point.done)
            if name in space or len(space) < MAX_CURVES:
                space.setdefault(name, []).append((float(point.done), float(value)))
        if not self._is_summary(point.probe):
            self.shown = point.probe

    @staticmethod
    def _curve_name(space: dict[str, CurvePoints], name: str, x: float) -> str:
        """The curve a point extends. A series that starts over (the same depth trained again with
        another seed) becomes a new curve, "depth 3 loss, run 2", instead of a line drawn back."""
        runs = [n for n in space if n == name or n.startswith(f"{name}, run ")]
        if not runs:
            return name
        latest = runs[-1]
        return latest if x > space[latest][-1][0] else f"{name}, run {len(runs) + 1}"

    def _is_summary(self, probe: str) -> bool:
        mine = self.series.get(probe)
        if not mine:
            return False
        others = (
            set().union(*(s for p, s in self.series.items() if p != probe)) if len(self.series) > 1 else set()
        )
        return mine <= others

    def curves(self) -> dict[str, CurvePoints]:
        return self.curves_of(self.shown)

    def curves_of(self, namespace: str | None) -> dict[str, CurvePoints]:
        """The curves one loop reported, named for a legend ("depth 3" rather than "depth 3 loss")."""
        if namespace is None or namespace not in self.spaces:
            return {}
        space = self.spaces[namespace]
        # "depth 3 loss" reads better as "depth 3" when every curve measures the same key
        split = {name: _series_and_key(name) for name in space}
        keys = {key for _, key, _ in split.values()}
        if len(keys) == 1 and all(series for series, _, _ in split.values()):
            return {f"{series}{run}": space[name] for name, (series, _, run) in split.items()}
        return dict(space)

    def title(self) -> str:
        if self.shown is None:
            return ""
        keys = sorted({_series_and_key(name)[1] for name in self.spaces[self.shown]})
        what = "training loss" if keys == ["loss"] and self.shown == "training" else ", ".join(keys)
        return f"{self.shown}: {what}"


def _series_and_key(name: str) -> tuple[str, str, str]:
    """ "depth 3 loss, run 2" -> ("depth 3", "loss", ", run 2"); "lambda_max" -> ("", "lambda_max", "")."""
    base, sep, run = name.partition(", run ")
    series, _, key = base.rpartition(" ")
    return series, key, f"{sep}{run}" if sep else ""


def run_curves(live: LiveCurves) -> dict[str, dict[str, CurvePoints]]:
    """What a finished job measured along the way, by the evidence (probe) it belongs to.

    Probes keep numbers, not curves, in their results; the curves seen live are kept for this run so
    a finding card can still show them: the curvature estimates converging for `curvature`, and the
    training loss of every variant trained for the others (for `auto`, the depth ladder's).
    """
    out: dict[str, dict[str, CurvePoints]] = {}
    training = live.curves_of("training")
    curvature = live.curves_of("curvature")
    if curvature:
        out["curvature"] = curvature
    if training:
        if live.job_probe == "auto":
            out["depth"] = training
        elif live.job_probe != "curvature":
            out[live.job_probe] = training
    # The service sends at most ten progress reports a second, so a training that took a fraction of
    # a second left two or three points: not a curve worth drawing in a card.
    kept = {k: {name: pts for name, pts in v.items() if len(pts) >= MIN_POINTS} for k, v in out.items()}
    return {k: v for k, v in kept.items() if v}
