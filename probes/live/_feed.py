"""A training history built point by point and judged by the same analysis as `traindoc history`.

`probes.history.analyse` reads a whole History; running it at every step would cost O(n^2) over a
run. It runs instead when the training curve has grown by half since the last analysis (`growth`, at
least `min_gap` points) or the held-out curves by a quarter (`held_growth`, at least one point), so the
number of analyses grows with the logarithm of the run's length and their total cost stays within a
small constant of one analysis of the finished run (a geometric series: 1 / (1 - 1/1.5) = 3 for the
training trigger, 5 for the held-out one). The price: a rule about the training curve (plateau, spike)
can fire up to half the steps so far after it became true, a rule about held-out curves (overfitting)
up to a quarter of the evaluations so far; the alert still names the step its rule is about. (The
training trigger was a quarter until the overhead benchmark showed the analyses at ~3% of a small
MLP's training time; see docs/watch.md.) A NaN or infinite training loss needs no analysis: it is caught on
arrival, in O(1), and reported with its step at once.

Each rule fires once: an alert is keyed (divergence; a spike's step; the plateau; a held-out curve's
overfitting onset), and a key already reported is never reported again. Spikes are capped at
`max_spikes` alerts; the rest are counted in the final report, not printed.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from probes.history import History, HistoryAnalysis, HistoryOptions, Series, analyse
from probes.history._heldout import TrainLevels
from probes.history._models import Role, Split  # one home: the history's own curve roles and splits
from probes.live._alerts import Alert
from rules.thresholds import LOSS_LARGE_FRACTION


@dataclass
class _Curve:
    role: Role
    split: Split
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    has_epochs: bool = False  # kept on `add`: scanning every point for one at each analysis cost O(n)


class LiveHistory:
    """Append points with `add`, ask `check()` for new alerts; `history()` is the History so far."""

    def __init__(
        self,
        source: str,
        options: HistoryOptions | None = None,
        *,
        train_loss: str = "loss",
        min_gap: int = 25,
        growth: float = 0.5,
        held_growth: float = 0.25,
        max_spikes: int = 3,
        min_plateau: int = 50,
        total_steps: float | None = None,
    ) -> None:
        self.source = source
        self.options = options or HistoryOptions()
        self.train_loss = train_loss
        self.min_gap, self.growth, self.max_spikes = min_gap, growth, max_spikes
        self.held_growth = held_growth
        self.min_plateau = min_plateau  # training points before a plateau can be called
        self.total_steps = total_steps
        self._curves: dict[str, _Curve] = {}
        self._reported: set[str] = set()
        self._pending: list[Alert] = []
        self._analysed_at = 0  # training points at the last analysis
        self._held_out_points = 0
        self._held_out_at = 0  # held-out points at the last analysis
        self.analyses = 0  # how many times the full analysis ran (the cost the cadence bounds)
        self.analysis_seconds = 0.0  # their time, for a caller that puts them on a time budget
        self.deferred = 0  # analyses due but put off by the caller's budget (`check(afford=)`)
        self._last_cost = (0.0, 0)  # (seconds, training points) of the last analysis
        self.spikes_seen = 0
        self.last_analysis: HistoryAnalysis | None = None
        self._last_analysed: History | None = None  # the History `last_analysis` read
        # the held-out checks' training levels, kept between analyses (the windows before the last
        # training point do not change): half of each analysis's cost before (docs/watch.md)
        self._levels: dict[str, TrainLevels] = {}
        self._train_points = 0  # points of the training loss curve (due() runs at every step)
        # held-out loss curves whose overfitting alert has not fired yet (due() runs at every step:
        # a set kept up to date, not a scan of the curves)
        self._held_open: set[str] = set()

    # -- feeding ------------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        value: float,
        step: float,
        *,
        role: Role = "loss",
        split: Split = "train",
        epoch: float | None = None,
    ) -> None:
        # runs once per curve per step: the common case (a known curve, no epoch) does the least work
        curve = self._curves.get(name)
        if curve is None:
            curve = self._curves[name] = _Curve(role, split)
            if role == "loss" and split != "train" and f"overfitting:{name}" not in self._reported:
                self._held_open.add(name)
        value = float(value)
        curve.steps.append(float(step))
        curve.values.append(value)
        if epoch is None:
            curve.epochs.append(math.nan)
        else:
            curve.epochs.append(float(epoch))
            curve.has_epochs = curve.has_epochs or not math.isnan(epoch)
        if curve.role == "loss" and curve.split != "train":
            self._held_out_points += 1
        if name != self.train_loss:
            return
        self._train_points += 1
        if not math.isfinite(value):
            self._diverged(step, value)

    def _diverged(self, step: float, value: float) -> None:
        kind = "nan" if math.isnan(value) else "inf"
        self._fire(
            "diverged",
            Alert(
                kind="diverged",
                step=step,
                message=f"training loss is {kind.upper() if kind == 'nan' else value} at step {step:g}: "
                f"the run diverged{self._lr_text(step)}",
                data={"kind": kind, "value": None},
            ),
        )

    def extend(
        self,
        name: str,
        steps: Sequence[float],
        values: Sequence[float],
        *,
        role: Role = "loss",
        split: Split = "train",
        epochs: Sequence[float | None] | None = None,
    ) -> None:
        """`add` for several points of one curve at once, in step order (the batched feed of a
        training loop: one call per curve per batch instead of one per point); `epochs` runs along
        `steps` (None: no epochs). A NaN or infinite training loss fires its alert with its own
        step, as `add` does."""
        if not steps:
            return
        curve = self._curves.get(name)
        if curve is None:
            curve = self._curves[name] = _Curve(role, split)
            if role == "loss" and split != "train" and f"overfitting:{name}" not in self._reported:
                self._held_open.add(name)
        curve.steps.extend(map(float, steps))
        curve.values.extend(map(float, values))
        if epochs is None:
            curve.epochs.extend([math.nan] * len(steps))
        else:
            given = [math.nan if e is None else float(e) for e in epochs]
            curve.epochs.extend(given)
            curve.has_epochs = curve.has_epochs or any(not math.isnan(e) for e in given)
        if curve.role == "loss" and curve.split != "train":
            self._held_out_points += len(steps)
        if name != self.train_loss:
            return
        self._train_points += len(steps)
        if math.isfinite(sum(values)):  # the common case, in C; an overflowing sum falls through to the scan
            return
        for step, value in zip(steps, values, strict=True):
            if not math.isfinite(value):
                self._diverged(step, value)
                return  # the alert fires once: the first non-finite loss names the step

    def value_at(self, name: str, step: float) -> float | None:
        """The last value of curve `name` logged at or before `step` (e.g. the learning rate then)."""
        curve = self._curves.get(name)
        if curve is None or not curve.steps:
            return None
        i = bisect.bisect_right(curve.steps, step) - 1
        return curve.values[max(i, 0)]

    def last_positive(self, name: str) -> float | None:
        curve = self._curves.get(name)
        for v in reversed(curve.values if curve else []):
            if v > 0 and math.isfinite(v):
                return v
        return None

    def learning_rate_at(self, step: float) -> float | None:
        names = [n for n, c in self._curves.items() if c.role == "learning_rate"]
        return self.value_at(names[0], step) if names else None

    def points(self, name: str) -> int:
        curve = self._curves.get(name)
        return len(curve.values) if curve else 0

    # -- judging ------------------------------------------------------------------------------------

    def due(self) -> bool:
        n = self._train_points
        if n - self._analysed_at >= max(self.min_gap, self.growth * self._analysed_at):
            return True
        # a held-out loss curve can still raise an alert only until its overfitting alert (the only
        # held-out rule, once per curve) has fired: after that, new held-out points need no analysis
        # of their own (the training trigger and the final analysis still see them)
        if not self._held_open:
            return False
        return self._held_out_points - self._held_out_at >= max(1, self.held_growth * self._held_out_at)

    def next_analysis_cost(self) -> float:
        """The expected seconds of the next analysis: the last one's, scaled by the points since, at
        most twice (an analysis reads the whole history, but a short one is mostly fixed cost:
        scaled in proportion, the first analyses' cost would put every later one off); 0 before the
        first. Only an estimate: the time actually spent is what the caller's budget counts."""
        seconds, points = self._last_cost
        return seconds * min(max(self._train_points, 1) / max(points, 1), 2.0)

    def check(self, force: bool = False, *, afford: Callable[[float], bool] | None = None) -> list[Alert]:
        """New alerts since the last call: the O(1) ones at once, the analysis's ones when due.
        `afford(expected seconds)`, when given, may put a due analysis off (a time budget: it stays
        due and is asked again at the next call); `force` analyses regardless."""
        if force or (self.due() and (afford is None or self._affordable(afford))):
            self._analyse()
        if not self._pending:
            return []
        out, self._pending = self._pending, []
        return out

    def curve_points(self) -> list[tuple[str, list[float], list[float]]]:
        """(name, steps, values) of every curve, without building a validated History (the report
        writes every point once; a History would copy and validate them all first)."""
        return [(name, c.steps, c.values) for name, c in self._curves.items()]

    def history(self) -> History:
        # model_construct: the points are floats already (`add`/`extend` convert them), so the
        # validation a Series runs (None -> NaN, float() of every value) would change nothing and
        # was ~10% of every analysis of a watched run
        series = [
            Series.model_construct(
                name=name,
                role=c.role,
                split=c.split,
                x="step",
                steps=list(c.steps),
                values=list(c.values),
                epochs=list(c.epochs) if c.has_epochs else None,
            )
            for name, c in self._curves.items()
        ]
        return History(
            source=self.source,
            format="watch",
            series=series,
            total_steps=self.total_steps,
            notes=["recorded by traindoc watch while the run trained"],
        )

    def analysis_of(self, history: History, options: HistoryOptions) -> HistoryAnalysis | None:
        """`analyse(history, options)` if the last analysis was that one: the same options, the same
        curves (an analysis reads only the curves, `total_steps` and the config). A watched run's
        final analysis then serves its diagnosis too, instead of running again on the same points.
        None when anything differs (points added since, a NaN the history file leaves out, a curve's
        role): analyse again."""
        seen = self._last_analysed
        if seen is None or self.last_analysis is None or options != self.options:
            return None
        if (seen.series, seen.total_steps, seen.config) != (
            history.series,
            history.total_steps,
            history.config,
        ):
            return None
        return self.last_analysis

    def _affordable(self, afford: Callable[[float], bool]) -> bool:
        if afford(self.next_analysis_cost()):
            return True
        self.deferred += 1
        return False

    def _analyse(self) -> None:
        self._analysed_at = self.points(self.train_loss)
        self._held_out_at = self._held_out_points
        if self._analysed_at < 3 and not any(
            c.role == "loss" and c.split != "train" for c in self._curves.values()
        ):
            return
        started = time.perf_counter()
        history = self.history()
        analysis = analyse(history, self.options, levels_cache=self._levels)
        seconds = time.perf_counter() - started
        self.analysis_seconds += seconds
        self._last_cost = (seconds, max(self._train_points, 1))
        self.analyses += 1
        self.last_analysis, self._last_analysed = analysis, history
        self._divergence(analysis)
        self._spikes(analysis)
        self._plateau(analysis)
        self._overfitting(analysis)

    def _divergence(self, a: HistoryAnalysis) -> None:
        d = a.divergence
        if d.status == "diverged":
            self._fire(
                "diverged",
                Alert(
                    kind="diverged",
                    step=d.step,
                    message=f"the run diverged ({d.kind}) at step {_g(d.step)}{self._lr_text(d.step)}: "
                    f"{d.explanation}",
                    data=d.model_dump(mode="json"),
                ),
            )

    def _spikes(self, a: HistoryAnalysis) -> None:
        train = next((n for n in a.noise if n.name == self.train_loss), None)
        if train is None:
            return
        for spike in train.spikes:
            key = f"spike:{spike.step:g}"
            if key in self._reported:
                continue
            self.spikes_seen += 1
            if self.spikes_seen > self.max_spikes:
                self._reported.add(key)  # counted in the report, not printed
                continue
            lr = self.learning_rate_at(spike.step)
            more = " (further spikes go to the report only)" if self.spikes_seen == self.max_spikes else ""
            self._fire(
                key,
                Alert(
                    kind="spike",
                    step=spike.step,
                    message=f"loss spike at step {spike.step:g}: {spike.value:.4g} against a local level of "
                    f"{spike.local_level:.4g}{self._lr_text(spike.step)}{more}",
                    data={**spike.model_dump(mode="json"), "learning_rate": lr},
                ),
            )

    def _plateau(self, a: HistoryAnalysis) -> None:
        t, trend = a.train, a.train_trend
        if t is None or trend is None or t.final_level is None:
            return
        if trend.status not in ("plateau", "flat") or a.divergence.status == "diverged":
            return
        if t.final_level < LOSS_LARGE_FRACTION * a.scale:
            return
        # the history analysis judges a finished run by its last quarter; a run in progress has a short
        # last quarter, so the plateau must also hold for the later half of the steps seen so far
        first, last = t.first_step, t.last_step
        since = trend.since_step if trend.since_step is not None else last
        if t.points < self.min_plateau or first is None or last is None or since is None:
            return
        if since - first > 0.5 * (last - first):
            return
        yardstick = (
            f"the trivial predictor's {a.baseline.value:.4g} ({a.baseline.kind})"
            if a.baseline.value is not None
            else f"the first logged loss {a.scale:.4g}"
        )
        self._fire(
            "plateau",
            Alert(
                kind="plateau",
                step=trend.since_step if trend.since_step is not None else t.last_step,
                message=f"the training loss stopped falling at {t.final_level:.4g} (since step "
                f"{_g(trend.since_step)}), at least {LOSS_LARGE_FRACTION:.0%} of {yardstick}: "
                "model bias or an optimization issue",
                data={
                    "final_level": t.final_level,
                    "since_step": trend.since_step,
                    "scale": a.scale,
                    "baseline": a.baseline.value,
                },
            ),
        )

    def _overfitting(self, a: HistoryAnalysis) -> None:
        for check in a.held_out:
            if check.overfitting_onset_step is None:
                continue
            es = check.early_stopping
            keep = es.restore_step if es and es.restore_step is not None else check.best_step
            self._fire(
                f"overfitting:{check.name}",
                Alert(
                    kind="overfitting",
                    step=check.overfitting_onset_step,
                    message=f"{check.name} rose from its best {_f(check.best_value)} at step "
                    f"{_g(check.best_step)} while the training loss kept falling (onset at step "
                    f"{_g(check.overfitting_onset_step)}): overfitting; early stopping would keep "
                    f"step {_g(keep)}",
                    data={
                        "series": check.name,
                        "onset_step": check.overfitting_onset_step,
                        "best_step": check.best_step,
                        "best_value": check.best_value,
                        "keep_step": keep,
                        "stop_step": es.stop_step if es else None,
                    },
                ),
            )

    # -- plumbing -----------------------------------------------------------------------------------

    def _fire(self, key: str, alert: Alert) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        if key.startswith("overfitting:"):
            self._held_open.discard(key.removeprefix("overfitting:"))
        self._pending.append(alert)

    def _lr_text(self, step: float | None) -> str:
        lr = self.learning_rate_at(step) if step is not None else None
        return f" (learning rate {lr:.3g})" if lr is not None else ""


def _g(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def _f(x: float | None) -> str:
    return "?" if x is None else f"{x:.4g}"
