"""The logged learning rate read beside the training loss (HF `learning_rate`, Lightning `lr-Adam`,
Keras `lr`): a training loss that rises while the learning rate is at or near its peak (the end of a
warm-up, a cyclic peak) and falls again once it decays says the step was too large for that phase,
which answers `learning_rate_exceeds_stability` from the history.

Rule: on the smoothed training loss, the largest rise above its running minimum must be >= 10% of the
loss scale and >= 20% of that minimum; the LR must vary (peak >= 2x its lowest: with a constant LR a
rise says nothing about the LR), and during the rise it must reach >= 80% of its peak. A rise while
the LR is low, or no rise, leaves the question open: a history cannot show that a rate is stable.
"""

from __future__ import annotations

import numpy as np

from probes.history._curves import arrays, finite, smoothed
from probes.history._models import History, LearningRateCheck, Series

RISE_SCALE = 0.10
RISE_LEVEL = 0.20
NEAR_PEAK = 0.80
VARIES = 2.0


def lr_series(history: History) -> Series | None:
    found = [s for s in history.series if s.role == "learning_rate" and _positive(s.values, 3)]
    return max(found, key=lambda s: len(s.values)) if found else None


def _positive(values: list[float], at_least: int) -> bool:
    """At least `at_least` values > 0, stopping once they are found (a watched run analyses a
    growing history: counting every point of the learning-rate curve was a pass over all of it in
    every analysis)."""
    count = 0
    for v in values:
        if v > 0:
            count += 1
            if count >= at_least:
                return True
    return False


def check(history: History, train: Series, scale: float) -> LearningRateCheck | None:
    lr = lr_series(history)
    if lr is None:
        return None
    ls, lv = finite(*arrays(lr))
    ts, tv = finite(*arrays(train))
    if len(ls) < 3 or len(tv) < 5:
        return None
    peak_i = int(np.argmax(lv))
    peak, lowest = float(lv[peak_i]), float(lv[lv > 0].min())
    rising = np.flatnonzero(np.diff(lv) > 0)
    warmup_end = float(ls[rising[-1] + 1]) if len(rising) and rising[0] == 0 else None
    out = LearningRateCheck(name=lr.name, peak=peak, peak_step=float(ls[peak_i]), warmup_end_step=warmup_end)
    sx, sy = smoothed(ts, tv)
    running = np.minimum.accumulate(sy)
    rise = sy - running
    end = int(np.argmax(rise))
    low_i = int(np.flatnonzero(sy[: end + 1] == running[end])[0])
    size = float(rise[end])
    if size < RISE_SCALE * scale or size < RISE_LEVEL * abs(float(running[end])):
        out.explanation = (
            f"{lr.name} peaks at {peak:.3g} (step {out.peak_step:g}); the training loss never rose by "
            f">= {RISE_SCALE:.0%} of the scale {scale:.3g}: no sign in the history of a rate too high"
        )
        return out
    lo, hi = float(sx[low_i]), float(sx[end])
    window = lv[(ls >= lo) & (ls <= hi)]
    before = lv[ls <= lo]
    at_rise = float(max(window.max() if len(window) else 0.0, before[-1] if len(before) else 0.0))
    out.rise_start_step, out.rise_end_step = lo, hi
    out.loss_before, out.loss_peak, out.lr_at_rise = float(sy[low_i]), float(sy[end]), at_rise
    after = sy[end + 1 :]
    if len(after) and float(after.min()) < float(sy[end]) - 0.5 * size:
        out.recovered_below = float(after.min())
    varies = peak >= VARIES * lowest
    near = at_rise >= NEAR_PEAK * peak
    out.exceeds = bool(varies and near)
    fell = (
        f"; it fell back to {out.recovered_below:.4g} as the LR decayed"
        if out.recovered_below is not None
        else ""
    )
    rose = f"the training loss rose from {out.loss_before:.4g} (step {lo:g}) to {out.loss_peak:.4g} (step {hi:g})"
    if out.exceeds:
        phase = (
            "at the end of the warm-up"
            if warmup_end is not None and lo <= warmup_end * 1.5
            else "near its peak"
        )
        out.explanation = (
            f"{rose} while {lr.name} was {at_rise:.3g}, {at_rise / peak:.0%} of its peak {peak:.3g} ({phase}; lowest {lowest:.3g}){fell}: "
            "the step was too large for that phase of training"
        )
    elif not varies:
        out.explanation = f"{rose}, but {lr.name} hardly varies ({lowest:.3g} to {peak:.3g}): the rise cannot be tied to the rate"
    else:
        out.explanation = f"{rose} while {lr.name} was {at_rise:.3g}, only {at_rise / peak:.0%} of its peak {peak:.3g}: not the rate's peak"
    return out
