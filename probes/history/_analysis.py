"""Curve analysis: the numbers a careful engineer reads off a history, each with its rule.

Inputs are a `History` and `HistoryOptions`; the output is a `HistoryAnalysis` of plain numbers.
Thresholds are relative to a loss scale S (the trivial baseline when known, else the loss the run
started at), so the same rules hold for a cross-entropy of 2.3 and an MSE of 5,000.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from probes.history import _baseline, _heldout, _lr
from probes.history._curves import arrays, diff_noise, final_level, finite, local_level, smoothed, spikes
from probes.history._models import (
    Baseline,
    CurveSummary,
    Divergence,
    History,
    HistoryAnalysis,
    Noise,
    Series,
    Spike,
    Trend,
)

BLOWUP_FACTOR = 3.0  # final level above 3x the lowest (and above the start): diverged
PLATEAU_CHANGE = 0.05  # < 5% relative fall over the last quarter: plateau
NOISY = 0.15  # point-to-point spread >= 15% of the loss scale: oscillating
NOISY_LEVEL = 0.25  # for evaluation curves, spread >= 25% of the current level too
PERFECT = 1e-3  # a loss below 0.1% of the scale...
PERFECT_EARLY = 0.10  # ...reached within the first 10% of the run is suspicious


class HistoryOptions(BaseModel):
    """What the user can tell the analysis that the history does not say."""

    classes: int | None = Field(None, ge=2, description="number of classes (baseline ln C)")
    priors: list[float] | None = Field(None, description="class frequencies (baseline: their entropy)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing epsilon (raises the floor)")
    baseline: float | None = Field(
        None, gt=0, description="loss of a trivial predictor, e.g. the variance of the targets for MSE"
    )
    patience: int = Field(3, ge=1, description="early-stopping patience, in evaluations")
    gl_alpha: float = Field(5.0, gt=0, description="Prechelt's GL threshold, in %")

    @field_validator("priors")
    @classmethod
    def _priors_are_frequencies(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) < 2 or any(p < 0 or not math.isfinite(p) for p in v) or sum(v) <= 0):
            raise ValueError("give at least two non-negative class frequencies or counts")
        return v


def _preferred(series: list[Series]) -> Series | None:
    if not series:
        return None
    plain = {"loss", "train_loss", "val_loss", "eval_loss", "test_loss", "validation_loss"}
    return max(
        series,
        key=lambda s: (bool(np.isfinite(s.values).any()), len(s.values), s.name.lower() in plain),
    )


def primary_train(history: History) -> Series | None:
    return _preferred(history.losses("train"))


def held_out_series(history: History) -> list[Series]:
    """Validation curves first (the one with a plain name before named eval sets), then test curves."""

    def order(s: Series) -> tuple[int, int, str]:
        plain = s.eval_set is None and s.name.lower() in {
            "eval_loss",
            "val_loss",
            "validation/epoch_loss",
            "eval/loss",
        }
        return (0 if s.split == "val" else 1, 0 if plain or s.eval_set is None else 1, s.name)

    return sorted(history.losses("val") + history.losses("test"), key=order)


def summarize(series: Series) -> CurveSummary:
    steps, values = arrays(series)
    fs, fv = finite(steps, values)
    bad = ~np.isfinite(values)
    summary = CurveSummary(
        name=series.name,
        split=series.split,
        eval_set=series.eval_set,
        points=len(values),
        first=float(fv[0]) if len(fv) else None,
        first_step=float(fs[0]) if len(fs) else None,
        last=float(fv[-1]) if len(fv) else None,
        last_step=float(fs[-1]) if len(fs) else None,
        final_level=final_level(steps, values),
        lowest=None,
        lowest_step=None,
        nonfinite=int(bad.sum()),
        first_nonfinite_step=float(steps[bad][0]) if bad.any() else None,
    )
    if len(fv):
        sx, sy = smoothed(fs, fv)
        i = int(np.argmin(sy))
        summary.lowest, summary.lowest_step = float(sy[i]), float(sx[i])
    return summary


def _grad_norm_bad(history: History, steps: np.ndarray) -> np.ndarray:
    """For each training step: is the gradient norm logged at that step NaN or infinite?"""
    out = np.zeros(len(steps), dtype=bool)
    for g in history.series:
        if g.role == "grad_norm":
            gs, gv = arrays(g)
            pos = np.searchsorted(gs, steps)
            ok = pos < len(gs)
            hit = ok & (gs[np.minimum(pos, len(gs) - 1)] == steps)
            out |= hit & ~np.isfinite(gv[np.minimum(pos, len(gs) - 1)])
    return out


def hidden_nan(history: History, train: Series) -> np.ndarray:
    """HF Trainer logs 0.0 for a logging window in which every step was NaN; the NaN shows in the
    gradient norm logged with it (or in the evaluation loss)."""
    steps, values = arrays(train)
    eval_nan = any(not math.isfinite(v) for s in held_out_series(history) for v in s.values)
    return (values == 0.0) & (_grad_norm_bad(history, steps) | eval_nan)


def divergence(history: History, train: Series, scale: float, hidden: np.ndarray) -> Divergence:
    """`train` has its hidden NaNs already turned into NaN; `hidden` says which points they were."""
    steps, values = arrays(train)
    nonfinite = ~np.isfinite(values) & ~hidden
    bad = nonfinite | hidden
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        last = int(np.flatnonzero(bad)[-1])
        later = values[last + 1 :]
        recovered = bool(np.any(np.isfinite(later)))
        kind: Literal["hidden_nan", "nan", "inf"] = (
            "hidden_nan" if not nonfinite.any() else "nan" if np.isnan(values[nonfinite]).any() else "inf"
        )
        what = {
            "hidden_nan": "logged as loss 0.0 with a NaN gradient norm or NaN evaluation loss (the Hugging Face Trainer's NaN signature)",
            "nan": "NaN",
            "inf": "infinite",
        }[kind]
        n_bad = int(bad.sum())
        tail = "training went on with finite losses afterwards" if recovered else "it never recovered"
        return Divergence(
            status="diverged",
            kind=kind,
            step=float(steps[first]),
            nonfinite_points=int(nonfinite.sum()),
            hidden_nan_points=int(hidden.sum()),
            recovered=recovered,
            explanation=f"{n_bad} of {len(values)} training losses are {what}, from step {steps[first]:g}; {tail}",
        )
    fs, fv = finite(steps, values)
    if len(fv) < 2:
        return Divergence(status="unknown", explanation="fewer than 2 finite training losses")
    sx, sy = smoothed(fs, fv)
    start, end, low = float(sy[0]), final_level(fs, fv) or float(sy[-1]), float(sy.min())
    if end > start and end > BLOWUP_FACTOR * low and end - low > 0.1 * scale:
        step = float(sx[int(np.argmin(sy))])
        return Divergence(
            status="diverged",
            kind="blowup",
            step=step,
            explanation=f"the training loss fell to {low:.4g} and then grew to {end:.4g}, above its start {start:.4g} and {end / low:.1f}x its lowest",
        )
    return Divergence(
        status="stable",
        explanation=f"no NaN or infinite loss in {len(values)} points; the final level {end:.4g} is not above both the start {start:.4g} and {BLOWUP_FACTOR:g}x the lowest {low:.4g}",
    )


def trend(train: Series, scale: float) -> Trend:
    fs, fv = finite(*arrays(train))
    if len(fv) < 4:
        return Trend(
            status="too_short", explanation=f"{len(fv)} finite training losses: too few to see a trend"
        )
    sx, sy = smoothed(fs, fv)
    end = final_level(fs, fv) or float(sy[-1])
    low, start = float(sy.min()), float(sy[0])
    if (sy.max() - sy.min()) < 0.1 * scale and abs(start - end) < 0.05 * scale:
        return Trend(
            status="flat",
            since_step=float(fs[0]),
            explanation=f"the training loss never moved: it stayed between {sy.min():.4g} and {sy.max():.4g} (less than 10% of the scale {scale:.4g}) for the whole run",
        )
    q = float(np.interp(fs[0] + 0.75 * (fs[-1] - fs[0]), sx, sy))
    change = (q - end) / q if q > 0 else 0.0
    if end > 1.5 * low and end - low > 0.05 * scale:
        since = float(sx[int(np.argmin(sy))])
        return Trend(
            status="rising",
            since_step=since,
            last_quarter_change=change,
            explanation=f"the training loss rose from its lowest {low:.4g} (step {since:g}) to {end:.4g}",
        )
    if change >= PLATEAU_CHANGE:
        return Trend(
            status="still_falling",
            last_quarter_change=change,
            explanation=f"still falling at the end: {q:.4g} -> {end:.4g} ({change:.0%}) over the last quarter of the run; more training would lower it",
        )
    plateau_since = (
        float(sx[int(np.flatnonzero(sy <= end * 1.05 + 1e-12)[0])])
        if (sy <= end * 1.05 + 1e-12).any()
        else None
    )
    where = f" since step {plateau_since:g}" if plateau_since is not None else ""
    return Trend(
        status="plateau",
        since_step=plateau_since,
        last_quarter_change=change,
        explanation=f"plateau{where}: the training loss fell {change:.0%} over the last quarter of the run (< {PLATEAU_CHANGE:.0%})",
    )


def noise(series: Series, scale: float) -> Noise | None:
    fs, fv = finite(*arrays(series))
    if len(fv) < 5:
        return None
    level = local_level(fv)
    recent = fv[len(fv) // 2 :] if len(fv) >= 10 else fv
    spread = diff_noise(recent)  # the recent half: early zig-zags at a higher level say little
    tail = level[len(level) // 2 :]
    current = float(np.median(tail)) if len(tail) else None
    rel_level = spread / current if current else None
    found = spikes(fs, fv, level, float(level[0]))
    evaluation = series.split != "train"
    oscillating = spread >= NOISY * scale or (
        evaluation and rel_level is not None and rel_level >= NOISY_LEVEL
    )
    parts = [f"{series.name}: spread {spread:.3g} = {spread / scale:.0%} of the scale {scale:.4g}"]
    if rel_level is not None:
        parts.append(f"{rel_level:.0%} of its recent level {current:.4g}")
    verdict = "oscillates" if oscillating else "steady"
    text = f"{', '.join(parts)}: {verdict}"
    if found:
        worst = max(found, key=lambda s: s[1] / max(s[2], 1e-12))
        text += f"; {len(found)} spike(s) back to the starting loss or above and >= 3x the local level (worst {worst[1]:.4g} at step {worst[0]:g}, local level {worst[2]:.4g})"
    return Noise(
        name=series.name,
        noise=spread,
        relative_to_scale=spread / scale,
        relative_to_level=rel_level,
        spikes=[Spike(step=s, value=v, local_level=lv) for s, v, lv in found[:20]],
        oscillating=oscillating,
        explanation=text,
    )


def _scale(baseline: Baseline, train: Series | None, held: list[Series]) -> float:
    if baseline.value:
        span = baseline.value - baseline.floor
        return span if span > 0 else baseline.value
    firsts = [
        next((v for v in s.values if math.isfinite(v)), 0.0) for s in (train, *held[:1]) if s is not None
    ]
    scale = max((abs(v) for v in firsts), default=1.0)
    return scale if scale > 0 else 1.0


def analyse(
    history: History,
    options: HistoryOptions | None = None,
    *,
    levels_cache: dict[str, _heldout.TrainLevels] | None = None,
) -> HistoryAnalysis:
    """`levels_cache` (a run being watched, analysed again as it grows): the held-out checks' training
    levels already computed, per held-out series; the results are the same without it."""
    options = options or HistoryOptions()
    train = primary_train(history)
    held = held_out_series(history)
    hidden = hidden_nan(history, train) if train is not None else np.zeros(0, dtype=bool)
    if train is not None and hidden.any():
        values = [math.nan if h else v for v, h in zip(train.values, hidden, strict=True)]
        train = train.model_copy(update={"values": values})
    smoothing = options.label_smoothing or _baseline.config_smoothing(history) or 0.0
    baseline = _baseline.from_user(options.classes, options.priors, smoothing, options.baseline)
    if baseline is None:
        baseline = _baseline.from_evidence(history, [train] if train else [], held, smoothing)
    scale = _scale(baseline, train, held)
    analysis = HistoryAnalysis(
        baseline=baseline,
        scale=scale,
        divergence=Divergence(status="unknown", explanation="no training loss curve"),
    )
    if train is not None:
        analysis.train = summarize(train)
        analysis.divergence = divergence(history, train, scale, hidden)
        analysis.train_trend = trend(train, scale)
    for s in ([train] if train else []) + held:
        n = noise(s, scale)
        if n is not None:
            analysis.noise.append(n)
    analysis.held_out = [
        _heldout.check(
            history,
            s,
            train,
            scale,
            options.patience,
            options.gl_alpha,
            None if levels_cache is None else levels_cache.setdefault(s.name, _heldout.TrainLevels()),
        )
        for s in held
    ]
    analysis.learning_rate = _lr.check(history, train, scale) if train is not None else None
    _observe(history, analysis, train)
    _leaks(history, analysis, train, held)
    return analysis


def _observe(history: History, analysis: HistoryAnalysis, train: Series | None) -> None:
    t, scale = analysis.train, analysis.scale
    if history.total_steps and t and t.last_step is not None and t.last_step < 0.98 * history.total_steps:
        analysis.observations.append(
            f"the run stopped at step {t.last_step:g} of the planned {history.total_steps:g} (interrupted, or a checkpoint's state)"
        )
    if train is None or t is None or t.final_level is None or t.final_level > PERFECT * scale:
        return
    fs, fv = finite(*arrays(train))
    sx, sy = smoothed(fs, fv)
    below = np.flatnonzero(sy <= 0.01 * scale)
    span = fs[-1] - fs[0] if len(fs) else 0
    if len(below) and span > 0 and (sx[below[0]] - fs[0]) <= PERFECT_EARLY * span:
        analysis.warnings.append(
            f"the training loss fell below 1% of its scale by step {sx[below[0]]:g} ({(sx[below[0]] - fs[0]) / span:.0%} "
            f"of the run) and ended at {t.final_level:.2g}: a task this easy usually means leaked labels, "
            "train/eval overlap or a constant target"
        )


LEAK_RATIO = 0.1  # a held-out loss below a tenth of the training loss...
LEAK_LEVEL = 0.05  # ...and below 5% of the scale: held-out data the model has already seen?
PERFECT_ACCURACY = 0.999


def _leaks(history: History, analysis: HistoryAnalysis, train: Series | None, held: list[Series]) -> None:
    """Too-good runs, looked for over the whole run: a held-out loss far below the training loss and
    near zero (dropout or augmentation make held-out a little lower, never 10x lower near 0), and a
    held-out accuracy at 100% from the first evaluation."""
    scale = analysis.scale
    for check in analysis.held_out:
        if check.final_value is None or check.train_level_final is None or check.train_level_final <= 0:
            continue
        if (
            check.final_value <= LEAK_RATIO * check.train_level_final
            and check.final_value <= LEAK_LEVEL * scale
        ):
            analysis.warnings.append(
                f"{check.name} ends at {check.final_value:.3g}, {check.train_level_final / max(check.final_value, 1e-12):.0f}x below the "
                f"training loss {check.train_level_final:.3g} and under {LEAK_LEVEL:.0%} of the scale {scale:.3g}: "
                "too good to be true; check for held-out examples in the training data (leak) or a constant target"
            )
    for m in history.series:
        if m.role != "metric" or m.split == "train" or not m.higher_is_better or "acc" not in m.name.lower():
            continue
        values = [v for v in m.values if math.isfinite(v)]
        if len(values) < 2:
            continue
        top = 100.0 if max(values) > 1 else 1.0
        if all(v >= PERFECT_ACCURACY * top for v in values):
            analysis.warnings.append(
                f"{m.name} is {values[0]:g} from the first evaluation to the last ({len(values)} evaluations): a perfect score "
                "before any training is a leak or a trivial split, not a good model"
            )
