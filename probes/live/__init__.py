"""Computation for watching a training run while it trains (no printing, no framework imports).

- `LiveHistory`: a `probes.history.History` built point by point, judged by the same
  `probes.history.analyse` that `traindoc history` uses, at a cadence that keeps the total cost
  near-linear; `Alert`s come out once each, as soon as their rule fires.
- `sharpness` / `end_point`: lambda_max (and the optimizer's stability threshold) on a held batch,
  and at the end the gradient norm with both extreme eigenvalues, on the real model, without changing
  the run (`isolated`: RNG streams, gradients, modes and buffers given back).
"""

from __future__ import annotations

from probes.live._alerts import Alert, AlertKind
from probes.live._curvature import (
    EndPoint,
    RandomStart,
    Sharpness,
    Threshold,
    end_point,
    isolated,
    judged,
    sharpness,
    start_from,
    threshold_of,
)
from probes.live._feed import LiveHistory

__all__ = [
    "Alert",
    "AlertKind",
    "EndPoint",
    "LiveHistory",
    "RandomStart",
    "Sharpness",
    "Threshold",
    "end_point",
    "isolated",
    "judged",
    "sharpness",
    "start_from",
    "threshold_of",
]
