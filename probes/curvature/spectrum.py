"""Beyond the two extremes: each layer's curvature on its own, and the whole spectrum's density.

- `per_layer`: Lanczos on each parameter block's own Hessian H_ll (the products restricted to that
  block: v zero elsewhere, the block of H v kept), so a user sees which layer is sharp or where
  negative curvature lives. Each product is one full product of the model.
- `spectral_density`: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani et al. 2019)
  with several Rademacher probe vectors; the Hessian trace by Hutchinson's estimator (for a
  Rademacher z, z^T H z = n * alpha_1 of its Lanczos run, no extra product); the share of clearly
  negative eigenvalues as an ESTIMATE with its standard error across probe vectors. Estimates, never
  exact: each vector's quadrature has about 1/sqrt(n) sampling error on top.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from probes.base import ProbeProgress, ProgressCallback, StopCheck, never_stop, no_progress
from probes.curvature.hessian import _distribution_bounds, lanczos


def _labelled(progress: ProgressCallback, label: str) -> ProgressCallback:
    """The callback with `label` before each message: each layer's and each probe vector's Lanczos
    run counts its own products, and without the label the bar would seem to start over."""

    def report(update: ProbeProgress) -> None:
        progress(update.model_copy(update={"message": f"{label}: {update.message}"}))

    return report


class BlockOperator:
    """H_ll v for one block [start, stop) of the flat parameter vector of `operator`."""

    def __init__(self, operator: Any, start: int, stop: int) -> None:
        self.operator = operator
        self.start, self.stop = start, stop
        self.dim = stop - start
        self.dtype = operator.dtype
        self.device = operator.device
        self.hvp_count = 0

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        self.hvp_count += 1
        full = torch.zeros(self.operator.dim, dtype=self.dtype, device=self.device)
        full[self.start : self.stop] = vector.to(device=self.device, dtype=self.dtype)
        return self.operator(full)[self.start : self.stop]


def layer_blocks(names: Sequence[str], params: Sequence[torch.Tensor]) -> list[tuple[str, int, int]]:
    """(layer name, start, stop) per module: a module's weight and bias form one block, in order."""
    blocks: list[tuple[str, int, int]] = []
    offset = 0
    for name, p in zip(names, params, strict=True):
        layer = name.rpartition(".")[0] or name
        if blocks and blocks[-1][0] == layer and blocks[-1][2] == offset:
            blocks[-1] = (layer, blocks[-1][1], offset + p.numel())
        else:
            blocks.append((layer, offset, offset + p.numel()))
        offset += p.numel()
    return blocks


def per_layer(
    operator: Any,
    *,
    max_hvp: int,
    tolerance: float,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
) -> list[dict[str, Any]]:
    """lambda_max and lambda_min of every layer's own Hessian block, with the products each took."""
    out = []
    blocks = layer_blocks(operator.names, operator.params)
    for i, (layer, start, stop) in enumerate(blocks, 1):
        block = BlockOperator(operator, start, stop)
        run = lanczos(
            block,
            max_iter=max_hvp,
            tol=tolerance,
            seed=seed,
            progress=_labelled(progress, f"layer {layer} ({i}/{len(blocks)})"),
            should_stop=should_stop,
            probe=probe,
        )
        out.append(
            {
                "name": layer,
                "params": stop - start,
                "lambda_max": run.lambda_max,
                "lambda_min": run.lambda_min,
                "converged": run.converged,
                "hvp_count": block.hvp_count,
            }
        )
    return out


def spectral_density(
    operator: Any,
    *,
    vectors: int = 4,
    steps: int = 30,
    zero_tolerance: float,
    grid_points: int = 101,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
) -> dict[str, Any]:
    """Eigenvalue density (Gaussian-smoothed SLQ on a grid), Hutchinson trace and the estimated share
    of eigenvalues below -zero_tolerance, each with its spread across the probe vectors."""
    n = operator.dim
    runs = []
    before = getattr(operator, "hvp_count", 0)
    for i in range(vectors):
        gen = torch.Generator().manual_seed(seed + 1000 + i)
        z = torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64) * 2 - 1  # Rademacher
        # tol 0: run every step (the quadrature needs the nodes), stopping only on an invariant subspace
        runs.append(
            lanczos(
                operator,
                max_iter=steps,
                tol=0.0,
                start=z,
                progress=_labelled(progress, f"density vector {i + 1}/{vectors}"),
                should_stop=should_stop,
                probe=probe,
            )
        )
    nodes = [np.asarray(r.ritz_values) for r in runs]
    weights = [np.asarray(r.ritz_weights) / np.sum(r.ritz_weights) for r in runs]
    # Hutchinson: z^T H z / n = first moment of the quadrature = sum w_i theta_i (= alpha_1)
    traces = np.array([n * float(w @ t) for t, w in zip(nodes, weights, strict=True)])
    negatives = np.array([float(w[t < -zero_tolerance].sum()) for t, w in zip(nodes, weights, strict=True)])
    # what each vector's quadrature can tell apart (Chebyshev-Markov-Stieltjes): the share below
    # -tau lies between these for that vector's spectral measure
    ranges = np.array(
        [_distribution_bounds(t, w, -zero_tolerance) for t, w in zip(nodes, weights, strict=True)]
    )
    low = min(float(t.min()) for t in nodes)
    high = max(float(t.max()) for t in nodes)
    width = high - low if high > low else max(abs(high), 1.0)
    sigma = width / 100  # smoothing: 1% of the range seen
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, grid_points)
    density = np.zeros_like(grid)
    for t, w in zip(nodes, weights, strict=True):
        density += (w[None, :] * np.exp(-((grid[:, None] - t[None, :]) ** 2) / (2 * sigma**2))).sum(1)
    density /= len(runs) * sigma * math.sqrt(2 * math.pi)
    return {
        "method": f"ESTIMATE by stochastic Lanczos quadrature: {len(runs)} Rademacher vectors x {steps} steps, "
        f"Gaussian smoothing sigma {sigma:.3g}",
        "vectors": len(runs),
        "steps": steps,
        "hvp_count": getattr(operator, "hvp_count", 0) - before,
        "grid": [float(v) for v in grid],
        "density": [float(v) for v in density],
        "sigma": sigma,
        "trace": {
            "estimate": float(traces.mean()),
            "std_error": _std_error(traces),
            "method": "Hutchinson, Rademacher vectors (ESTIMATE)",
        },
        "negative_share": {
            "estimate": float(negatives.mean()),
            "std_error": _std_error(negatives),
            "range": [float(ranges[:, 0].mean()), float(ranges[:, 1].mean())],
            "range_std_error": [_std_error(ranges[:, 0]), _std_error(ranges[:, 1])],
            "zero_tolerance": zero_tolerance,
            "label": "ESTIMATE of the share of eigenvalues below -zero_tolerance: the quadrature only "
            "bounds it within `range` (Chebyshev-Markov-Stieltjes, averaged over probe vectors); "
            "std_error is the spread across probe vectors",
        },
    }


def _std_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf


Block = Callable[[torch.Tensor], torch.Tensor]
