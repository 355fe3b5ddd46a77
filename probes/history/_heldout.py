"""A validation (or test) curve against the training curve: the gap, its trend, the best epoch,
Prechelt's generalization loss, where early stopping would have stopped, and whether an eval metric
agrees with the loss.

Prechelt, "Early Stopping - But When?" (1998): GL(t) = 100 * (E_va(t) / min_{t'<=t} E_va(t') - 1);
the GL_alpha criterion stops at the first evaluation with GL > alpha.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from probes.history._curves import Array, arrays, diff_noise, finite, window_median
from probes.history._models import EarlyStopping, HeldOutCheck, History, MetricCheck, Series

METRIC_CHANGE = 0.05  # relative change of the error that counts as 'the metric moved'


def _epoch_at(series: Series, index: int) -> float | None:
    if not series.epochs:
        return None
    e = series.epochs[index]
    return e if math.isfinite(e) else None


def _early_stopping(
    steps: Array, values: Array, epochs: list[float | None], patience: int, alpha: float
) -> EarlyStopping:
    out = EarlyStopping(patience=patience, gl_alpha=alpha)
    best, best_i, waited = math.inf, 0, 0
    for i, v in enumerate(values):
        if v < best:
            best, best_i, waited = v, i, 0
        else:
            waited += 1
            if waited == patience and out.stop_step is None:
                out.stop_step, out.stop_epoch = float(steps[i]), epochs[i]
                out.restore_step, out.restore_epoch = float(steps[best_i]), epochs[best_i]
        gl = 100 * (v / best - 1) if best > 0 else 0.0
        if gl > alpha and out.gl_stop_step is None:
            out.gl_stop_step, out.gl_stop_epoch = float(steps[i]), epochs[i]
    return out


def _window_median(ts: Array, tv: Array, lo: float, hi: float) -> float | None:
    """`window_median`, the same number, without np.median's fixed cost (~50 us a call, one call per
    evaluation, half of a whole analysis): a window between two evaluations holds a few dozen points,
    sorted in Python; the median of an even count is (a + b) / 2 either way."""
    a = int(np.searchsorted(ts, lo, side="right"))
    b = int(np.searchsorted(ts, hi, side="right"))
    window = sorted(v for v in tv[a:b].tolist() if math.isfinite(v))
    n = len(window)
    if not n:
        return window_median(ts, tv, lo, hi)  # the last point at or before hi
    return window[n // 2] if n % 2 else (window[n // 2 - 1] + window[n // 2]) / 2


class TrainLevels:
    """Training levels already computed for a history that only grows (a run being watched): a
    window (lo, hi] that ends before the last training point can no longer change as points are
    appended, so its median is kept. Cleared when the training curve is another one, or when its
    count of non-finite values changed (the analysis turns hidden NaNs into NaN retroactively).
    The batch analysis passes none and computes every window, as before: same numbers either way."""

    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None
        self.medians: dict[tuple[float, float], float | None] = {}

    def valid_for(self, train: Series, tv: Array) -> None:
        key = (train.name, int((~np.isfinite(tv)).sum()))
        if key != self.key:
            self.key, self.medians = key, {}


def _train_levels(train: Series | None, steps: Array, cache: TrainLevels | None = None) -> list[float | None]:
    """The training loss around each evaluation: the median of the training points logged since the
    previous evaluation (the last tenth of the run before a lone evaluation)."""
    if train is None:
        return [None] * len(steps)
    ts, tv = arrays(train)
    if len(ts) == 0:
        return [None] * len(steps)
    if cache is not None:
        cache.valid_for(train, tv)
    span = ts[-1] - ts[0]
    levels = []
    for i, step in enumerate(steps):
        lo, hi = float(steps[i - 1] if i > 0 else step - max(0.1 * span, 1e-9)), float(step)
        if cache is None:
            levels.append(_window_median(ts, tv, lo, hi))
            continue
        if (lo, hi) not in cache.medians:
            level = _window_median(ts, tv, lo, hi)
            if hi >= ts[-1]:  # the window may still gain points: not kept
                levels.append(level)
                continue
            cache.medians[(lo, hi)] = level
        levels.append(cache.medians[(lo, hi)])
    return levels


def _metric_for(history: History, loss: Series) -> Series | None:
    candidates = [
        m
        for m in history.series
        if m.role == "metric"
        and m.split == loss.split
        and m.eval_set == loss.eval_set
        and m.higher_is_better is not None
        and m.values != loss.values  # Lightning logs val_mse == val_loss: not a second opinion
    ]

    def preference(m: Series) -> int:
        name = m.name.lower()
        return 0 if "acc" in name else 1 if "f1" in name else 2 if m.higher_is_better else 3

    return min(candidates, key=preference) if candidates else None


def _error(metric: Series, value: float) -> float:
    if not metric.higher_is_better:
        return value
    finite_values = [v for v in metric.values if math.isfinite(v)]
    percent = bool(finite_values) and max(finite_values) > 1
    return 1 - (value / 100 if percent else value)


def metric_check(history: History, loss: Series, best_step: float, final_step: float) -> MetricCheck | None:
    metric = _metric_for(history, loss)
    if metric is None:
        return None
    ms, mv = finite(*arrays(metric))
    at_best = [v for s, v in zip(ms, mv, strict=True) if s <= best_step]
    at_end = [v for s, v in zip(ms, mv, strict=True) if s <= final_step]
    if not at_best or not at_end:
        return None
    e_best, e_final = _error(metric, at_best[-1]), _error(metric, at_end[-1])
    if e_best <= 0:
        return None
    reduction = (e_best - e_final) / e_best
    better = "higher" if metric.higher_is_better else "lower"
    # the error's own change: negative when it fell (the metric improved), positive when it grew
    change = f"{metric.name} went from {at_best[-1]:.4g} to {at_end[-1]:.4g} ({better} is better; error {-reduction:+.0%} relative)"
    verdict: Literal["overconfidence", "metric_flat", "metric_worse"]
    if reduction >= METRIC_CHANGE:
        verdict, text = (
            "overconfidence",
            f"over-confidence: the loss rose while {change}",
        )
    elif reduction <= -METRIC_CHANGE:
        verdict, text = "metric_worse", f"overfitting: the loss rose and {change}"
    else:
        verdict, text = "metric_flat", f"the loss rose while {change}: the metric stopped improving"
    return MetricCheck(
        metric=metric.name,
        at_best_loss=at_best[-1],
        final=at_end[-1],
        error_reduction=reduction,
        verdict=verdict,
        explanation=text,
    )


def check(
    history: History,
    series: Series,
    train: Series | None,
    scale: float,
    patience: int,
    alpha: float,
    levels_cache: TrainLevels | None = None,
) -> HeldOutCheck:
    steps, values = arrays(series)
    keep = np.isfinite(values)
    index = np.flatnonzero(keep)
    out = HeldOutCheck(name=series.name, split=series.split, eval_set=series.eval_set, points=len(values))
    out.nonfinite = int((~keep).sum())
    if len(index) == 0:
        return out
    fs, fv = steps[index], values[index]
    epochs = [_epoch_at(series, int(i)) for i in index]
    b = int(np.argmin(fv))
    out.best_value, out.best_step, out.best_epoch = float(fv[b]), float(fs[b]), epochs[b]
    out.final_value, out.final_step, out.final_epoch = float(fv[-1]), float(fs[-1]), epochs[-1]
    running = np.minimum.accumulate(fv)
    gl = np.where(running > 0, 100 * (fv / np.where(running > 0, running, 1) - 1), 0.0)
    out.generalization_loss, out.max_generalization_loss = float(gl[-1]), float(gl.max())
    out.early_stopping = _early_stopping(fs, fv, epochs, patience, alpha)
    levels = _train_levels(train, fs, levels_cache)
    gaps = [(float(v) - t) for v, t in zip(fv, levels, strict=True) if t is not None]
    if levels[-1] is not None:
        out.train_level_final = levels[-1]
        out.gap_final = float(fv[-1]) - levels[-1]
        out.gap_ratio = float(fv[-1]) / levels[-1] if levels[-1] > 0 else None
    if gaps:
        out.gap_first = gaps[0]
    if len(gaps) >= 3:
        # the trend of how far the held-out loss sits ABOVE the training loss; a held-out loss below
        # the training loss (dropout, augmentation, averaged logs) is no gap at all
        above = np.maximum(np.asarray(gaps), 0.0)
        third = max(1, len(gaps) // 3)
        change = float(above[-third:].mean() - above[:third].mean())
        out.gap_trend = (
            "widening" if change > 0.05 * scale else "narrowing" if change < -0.05 * scale else "stable"
        )
    # a rise counts when the evaluations after the best stay above it by more than twice the
    # standard error of their mean (the curve's own zig-zag): the last point of a noisy curve being
    # above the one before is not an overfitting onset
    after = fv[b + 1 :]
    spread = diff_noise(fv) if len(fv) >= 5 else 0.0
    rise = float(after.mean()) - out.best_value if len(after) else 0.0
    rose = (
        out.generalization_loss > alpha
        and len(after) >= 2
        and rise > 0.02 * scale
        and rise > 2 * spread / np.sqrt(len(after))
    )
    if rose:
        out.overfitting_onset_step, out.overfitting_onset_epoch = out.best_step, out.best_epoch
        out.metric_check = metric_check(history, series, out.best_step, out.final_step)
    return out
