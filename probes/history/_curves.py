"""Numeric building blocks for curve analysis: finite points, local levels, robust noise, spikes.

Everything is vectorised with numpy and bounded in cost: long curves (100k steps) are summarised by
the medians of at most a few hundred chunks, never by a sliding window over every point.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from probes.history._models import Series

Array = NDArray[np.float64]
CHUNKS = 200
SMALL = 400  # up to this many points, a centred rolling median of 5 is affordable and sharper


def arrays(series: Series) -> tuple[Array, Array]:
    return np.asarray(series.steps, dtype=np.float64), np.asarray(series.values, dtype=np.float64)


def finite(steps: Array, values: Array) -> tuple[Array, Array]:
    keep = np.isfinite(values)
    return steps[keep], values[keep]


def _chunk_medians(values: Array) -> tuple[Array, NDArray[np.intp]]:
    """Medians of CHUNKS equal consecutive chunks (the remainder joins the last), in one vectorised
    call, and the chunk edges."""
    n = len(values)
    size = n // CHUNKS
    medians = np.median(values[: size * CHUNKS].reshape(CHUNKS, size), axis=1)
    if n > size * CHUNKS:
        medians[-1] = np.median(values[(CHUNKS - 1) * size :])
    edges = np.arange(CHUNKS + 1, dtype=np.intp) * size
    edges[-1] = n
    return medians, edges


def local_level(values: Array) -> Array:
    """A robust local level for every point: rolling median of 5 for short curves, the median of the
    point's chunk (1/200 of the curve) for long ones."""
    n = len(values)
    if n == 0:
        return values
    if n <= SMALL:
        padded = np.pad(values, 2, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, 5)
        return np.median(windows, axis=1)
    medians, edges = _chunk_medians(values)
    return np.repeat(medians, np.diff(edges))


def smoothed(steps: Array, values: Array) -> tuple[Array, Array]:
    """A denoised curve: the rolling median for short curves, chunk medians (at chunk centres) for
    long ones."""
    if len(values) <= SMALL:
        return steps, local_level(values)
    ys, _ = _chunk_medians(values)
    xs, _ = _chunk_medians(steps)
    return xs, ys


def final_level(steps: Array, values: Array, fraction: float = 0.1) -> float | None:
    """Median of the finite points in the last `fraction` of the step range (at least the last point)."""
    steps, values = finite(steps, values)
    if len(values) == 0:
        return None
    span = steps[-1] - steps[0]
    tail = values[steps >= steps[-1] - fraction * span] if span > 0 else values[-1:]
    return float(np.median(tail))


def diff_noise(values: Array) -> float:
    """Point-to-point noise from second differences: a steady trend (linear or exponential) barely
    contributes, a zig-zag does. Scaled so i.i.d. Gaussian noise of deviation sigma gives sigma."""
    if len(values) < 3:
        return 0.0
    second = values[2:] - 2 * values[1:-1] + values[:-2]
    return float(np.median(np.abs(second)) / (0.6745 * np.sqrt(6)))


def spikes(steps: Array, values: Array, level: Array, start: float) -> list[tuple[float, float, float]]:
    """Points that jump back to the loss the run started at (or above) and to 3x their local level:
    instability, not the ordinary spread of mini-batch losses."""
    mask = (values >= start) & (values >= 3 * np.maximum(level, 1e-12)) & (values > level)
    idx = np.flatnonzero(mask)
    return [(float(steps[i]), float(values[i]), float(level[i])) for i in idx]


def value_at(steps: Array, values: Array, step: float) -> float | None:
    """The value logged at `step`, or the last one before it."""
    if len(steps) == 0 or step < steps[0]:
        return None
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return float(values[i])


def window_median(steps: Array, values: Array, lo: float, hi: float) -> float | None:
    """Median of the finite points with lo < step <= hi; the last point at or before hi if none."""
    a = int(np.searchsorted(steps, lo, side="right"))
    b = int(np.searchsorted(steps, hi, side="right"))
    window = values[a:b]
    window = window[np.isfinite(window)]
    if len(window):
        return float(np.median(window))
    return value_at(*finite(steps, values), hi)
