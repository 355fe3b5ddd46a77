"""The true Hessian of a loss, through Hessian-vector products on one reused gradient graph.

Three tools, all on `HessianOperator` (v -> H v):
- `lanczos`: both ends of the spectrum (lambda_max AND lambda_min; power iteration only finds the
  largest magnitude), with full reorthogonalization, a convergence test and the Ritz vectors;
- `exact_spectrum`: the whole Hessian for small models (one product per identity column) and its
  eigendecomposition, so the minimum ratio and the escape eigenvector are exact;
- `estimated_spectrum_shares`: for big models, the share of positive / near-zero / negative
  eigenvalues from the Lanczos run read as stochastic Lanczos quadrature (an estimate, labelled so).

Never Gauss-Newton or Fisher: both are positive semi-definite and can never show a saddle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from probes.base import (
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProgressCallback,
    StopCheck,
    never_stop,
    no_progress,
)

# Eigenvalues within this fraction of the spectral radius count as "near zero" when a convergence
# test works relative to an eigenvalue's own size (a near-zero eigenvalue has no relative accuracy).
RELATIVE_FLOOR = 1e-4
# Lanczos keeps its basis in float64 unless that would take more than this many bytes.
BASIS_BYTES_FLOAT64 = 2 * 1024**3


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one flat vector (a copy)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Views of `flat` shaped (and cast) like each tensor of `like`, in order."""
    pieces = flat.split([t.numel() for t in like])
    return [piece.view_as(t).to(t.dtype) for piece, t in zip(pieces, like, strict=True)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HessianOperator:
    """H v for a scalar loss at the current parameters.

    The gradient is taken once with `create_graph=True` through `torch.autograd.grad` (not
    `backward(create_graph=True)`, which leaks through a reference cycle between `.grad` and the
    graph) and every product is one more `autograd.grad` through that graph with `retain_graph=True`,
    so no product re-runs the forward pass. Parameters that do not require grad, or that the loss does
    not depend on, are left out of the vector space (`skipped`).
    """

    def __init__(self, loss: torch.Tensor, named_parameters: Sequence[tuple[str, torch.Tensor]]) -> None:
        candidates = [(name, p) for name, p in named_parameters if p.requires_grad]
        if not candidates:
            raise ProbeError("the model has no parameters that require gradients")
        try:
            grads = torch.autograd.grad(
                loss, [p for _, p in candidates], create_graph=True, allow_unused=True
            )
        except RuntimeError as exc:
            raise ProbeError(
                f"the gradient of the loss cannot be differentiated twice: {_first_line(exc)}"
            ) from exc
        kept = [(n, p, g) for (n, p), g in zip(candidates, grads, strict=True) if g is not None]
        self.skipped = [n for (n, _), g in zip(candidates, grads, strict=True) if g is None]
        if not kept:
            raise ProbeError("the loss does not depend on any parameter of the model")
        self.names = [n for n, _, _ in kept]
        self.params = [p for _, p, _ in kept]
        self._grads: list[torch.Tensor] | None = [g for _, _, g in kept]
        # a gradient that does not depend on the parameters (loss linear in them) has zero second
        # derivatives; autograd refuses to differentiate it, so it is left out of the products
        self._active = [i for i, g in enumerate(self._grads) if g.requires_grad]
        self.loss = float(loss.detach())
        self.gradient = flatten([g.detach() for g in self._grads])
        self.dim = self.gradient.numel()
        self.dtype = self.gradient.dtype
        self.device = self.gradient.device
        self.hvp_count = 0

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        """H @ vector for a flat vector of length `dim` (any float dtype); returns the params' dtype."""
        if self._grads is None:
            raise RuntimeError("HessianOperator used after release()")
        self.hvp_count += 1
        if not self._active:
            return torch.zeros(self.dim, dtype=self.dtype, device=self.device)
        # one cast for the whole vector (not one per tensor): on a GPU each cast is a kernel launch
        pieces = unflatten(vector.to(device=self.device, dtype=self.dtype), self.params)
        try:
            products = torch.autograd.grad(
                [self._grads[i] for i in self._active],
                self.params,
                grad_outputs=[pieces[i] for i in self._active],
                retain_graph=True,
                allow_unused=True,
            )
        except RuntimeError as exc:
            raise ProbeError(
                f"a layer of the model has no second derivative in torch: {_first_line(exc)}"
            ) from exc
        return flatten(
            [torch.zeros_like(p) if h is None else h for h, p in zip(products, self.params, strict=True)]
        )

    def release(self) -> None:
        """Drop the gradient graph (the memory of one forward pass)."""
        self._grads = None


# -- Lanczos ----------------------------------------------------------------------------------------


@dataclass
class LanczosResult:
    """Both ends of the spectrum from a Krylov space of `iterations` products.

    Ritz values lie inside [lambda_min, lambda_max] of the true Hessian (Cauchy interlacing), so even
    before convergence a Ritz lambda_min below zero proves a negative eigenvalue exists, and a Ritz
    lambda_max is a lower bound on the true one.
    """

    lambda_max: float
    lambda_min: float
    converged: bool
    iterations: int
    stopped_because: str  # "converged" | "budget" | "invariant subspace" | "whole space"
    residual_max: float  # ||H y - theta y|| for the Ritz pair: some eigenvalue lies this close
    residual_min: float
    error_bound_max: float  # min(residual, residual^2 / Ritz gap): the test's error estimate
    error_bound_min: float
    tolerance: float
    ritz_values: list[float]  # the Krylov space's Ritz values, ascending (quadrature nodes)
    ritz_weights: list[float]  # squared first components of their eigenvectors (quadrature weights)
    history: list[tuple[float, float]] = field(default_factory=list)  # (lambda_max, lambda_min) per step
    vector_max: torch.Tensor | None = None  # unit Ritz vectors, flat, in the basis dtype
    vector_min: torch.Tensor | None = None


def _basis_dtype(dim: int, steps: int, param_dtype: torch.dtype) -> torch.dtype:
    if param_dtype == torch.float64 or dim * (steps + 1) * 8 <= BASIS_BYTES_FLOAT64:
        return torch.float64
    return param_dtype


def _extreme_bounds(theta: np.ndarray, residuals: np.ndarray, index: int) -> float:
    """min(r, r^2/gap) for Ritz pair `index`, gap to the nearest other Ritz value (a heuristic gap:
    the true one may be smaller, which is why the test also asks for a small change between steps)."""
    r = float(residuals[index])
    if len(theta) < 2:
        return r
    others = np.delete(theta, index)
    gap = float(np.min(np.abs(others - theta[index])))
    return min(r, r * r / gap) if gap > 0 else r


def lanczos(
    hvp: HessianOperator,
    *,
    max_iter: int = 60,
    tol: float = 1e-3,
    seed: int = 0,
    min_iter: int = 5,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
) -> LanczosResult:
    """Lanczos with full reorthogonalization for lambda_max and lambda_min of `hvp`.

    One product per step; the basis (float64 unless too big) is kept so that every new vector is
    reorthogonalized against all earlier ones, which keeps the Ritz values free of the spurious copies
    plain Lanczos produces in floating point.

    An end counts as converged when its Ritz residual r satisfies r <= tol * scale (a rigorous
    bound), or when both min(r, r^2/gap) <= tol * scale and its Ritz value moved by at most
    tol * scale in the last step; scale = max(|theta|, RELATIVE_FLOOR * spectral radius). Running
    out of `max_iter` products is reported as `converged=False`, never raised.
    """
    dim = hvp.dim
    steps = max(1, min(max_iter, dim))
    dtype = _basis_dtype(dim, steps, hvp.dtype)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=gen, dtype=torch.float64).to(device=hvp.device, dtype=dtype)
    basis = torch.empty(steps + 1, dim, dtype=dtype, device=hvp.device)
    basis[0] = q / q.norm()
    alphas: list[float] = []
    betas: list[float] = []
    history: list[tuple[float, float]] = []
    theta = np.zeros(1)
    vectors = np.ones((1, 1))
    residuals = np.zeros(1)
    stopped = "budget"
    converged = False
    k = 0
    for k in range(1, steps + 1):
        if should_stop():
            raise ProbeCancelled(probe)
        w = hvp(basis[k - 1]).to(dtype)
        alpha = float(w @ basis[k - 1])
        alphas.append(alpha)
        w -= alpha * basis[k - 1]  # the three-term recurrence removes the large components...
        if betas:
            w -= betas[-1] * basis[k - 2]
        beta = _reorthogonalize(w, basis[:k])  # ...and full reorthogonalization the round-off
        theta, vectors = np.linalg.eigh(_tridiagonal(alphas, betas))
        residuals = np.abs(beta * vectors[-1, :])
        history.append((float(theta[-1]), float(theta[0])))
        progress(
            ProbeProgress(
                probe=probe,
                done=k,
                total=steps,
                message=f"Lanczos {k}/{steps} Hessian-vector products",
                estimate={"lambda_max": float(theta[-1]), "lambda_min": float(theta[0])},
            )
        )
        radius = max(abs(theta[0]), abs(theta[-1]))
        if beta <= 1e-12 * max(radius, 1e-300) * math.sqrt(dim):
            stopped, converged = "invariant subspace", True  # the Krylov space holds every eigenvalue
            break
        if k >= min(min_iter, dim) and _ends_converged(theta, residuals, history, tol, radius):
            stopped, converged = "converged", True
            break
        if k == dim:
            stopped, converged = "whole space", True
            break
        betas.append(beta)
        basis[k] = w / beta
    used = basis[: len(alphas)]
    s = torch.as_tensor(vectors, dtype=dtype, device=hvp.device)
    return LanczosResult(
        lambda_max=float(theta[-1]),
        lambda_min=float(theta[0]),
        converged=converged,
        iterations=len(alphas),
        stopped_because=stopped,
        residual_max=float(residuals[-1]),
        residual_min=float(residuals[0]),
        error_bound_max=_extreme_bounds(theta, residuals, len(theta) - 1),
        error_bound_min=_extreme_bounds(theta, residuals, 0),
        tolerance=tol,
        ritz_values=[float(t) for t in theta],
        ritz_weights=[float(v) ** 2 for v in vectors[0, :]],
        history=history,
        vector_max=used.T @ s[:, -1],
        vector_min=used.T @ s[:, 0],
    )


def _reorthogonalize(w: torch.Tensor, basis: torch.Tensor) -> float:
    """Classical Gram-Schmidt against the basis, in place; a second pass only when the first removed
    most of w (Daniel-Gragg-Kaufman-Stewart: "twice is enough"). Returns the final norm of w."""
    before = float(w.norm())
    w -= (basis @ w) @ basis
    after = float(w.norm())
    if after < 0.7071 * before:
        w -= (basis @ w) @ basis
        after = float(w.norm())
    return after


def _tridiagonal(alphas: list[float], betas: list[float]) -> np.ndarray:
    t = np.diag(np.asarray(alphas, dtype=np.float64))
    if betas:
        off = np.asarray(betas[: len(alphas) - 1], dtype=np.float64)
        t += np.diag(off, 1) + np.diag(off, -1)
    return t


def _ends_converged(
    theta: np.ndarray,
    residuals: np.ndarray,
    history: list[tuple[float, float]],
    tol: float,
    radius: float,
) -> bool:
    if len(history) < 2:
        return False
    ends = ((len(theta) - 1, 0), (0, 1))  # (Ritz index, position in the history tuple)
    for index, position in ends:
        scale = max(abs(float(theta[index])), RELATIVE_FLOOR * radius)
        limit = tol * scale
        if residuals[index] <= limit:
            continue
        change = abs(history[-1][position] - history[-2][position])
        if _extreme_bounds(theta, residuals, index) <= limit and change <= limit:
            continue
        return False
    return True


# -- the exact Hessian ------------------------------------------------------------------------------


@dataclass
class ExactSpectrum:
    eigenvalues: torch.Tensor  # all n, ascending, float64 on the CPU
    vector_min: torch.Tensor  # unit eigenvector of the smallest eigenvalue, float64 on the CPU
    vector_max: torch.Tensor
    asymmetry: float  # ||H - H^T|| / ||H|| before symmetrizing: float round-off, a sanity check
    hvp_count: int

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def lambda_min(self) -> float:
        return float(self.eigenvalues[0])


def exact_hessian(
    hvp: HessianOperator,
    *,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
) -> torch.Tensor:
    """The n x n Hessian (float64, CPU), one product per identity column."""
    n = hvp.dim
    columns = torch.empty(n, n, dtype=torch.float64)
    unit = torch.zeros(n, dtype=hvp.dtype, device=hvp.device)
    every = max(1, n // 50)
    for j in range(n):
        if should_stop():
            raise ProbeCancelled(probe)
        unit[j] = 1
        columns[:, j] = hvp(unit).to(device="cpu", dtype=torch.float64)
        unit[j] = 0
        if j % every == 0 or j == n - 1:
            progress(
                ProbeProgress(probe=probe, done=j + 1, total=n, message=f"exact Hessian column {j + 1}/{n}")
            )
    return columns


def exact_spectrum(
    hvp: HessianOperator,
    *,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
) -> ExactSpectrum:
    """Every eigenvalue of the exact Hessian (torch.linalg.eigh), for models small enough."""
    before = hvp.hvp_count
    h = exact_hessian(hvp, progress=progress, should_stop=should_stop, probe=probe)
    norm = float(torch.linalg.matrix_norm(h))
    asymmetry = float(torch.linalg.matrix_norm(h - h.T)) / norm if norm > 0 else 0.0
    values, vectors = torch.linalg.eigh((h + h.T) / 2)
    return ExactSpectrum(
        eigenvalues=values,
        vector_min=vectors[:, 0].clone(),
        vector_max=vectors[:, -1].clone(),
        asymmetry=asymmetry,
        hvp_count=hvp.hvp_count - before,
    )


# -- the minimum ratio ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectrumShares:
    """How the eigenvalues split around zero; |lambda| <= zero_tolerance counts as near zero.

    For an estimate, `positive_range` and `negative_range` bound what the quadrature can tell apart
    (see `estimated_spectrum_shares`); for the exact count they are the value itself.
    """

    positive: float
    near_zero: float
    negative: float
    zero_tolerance: float
    exact: bool
    method: str
    positive_range: tuple[float, float]
    negative_range: tuple[float, float]

    @property
    def minimum_ratio(self) -> float:
        """The lecture's minimum ratio: the share of (clearly) positive eigenvalues."""
        return self.positive


def exact_spectrum_shares(eigenvalues: torch.Tensor, zero_tolerance: float) -> SpectrumShares:
    n = eigenvalues.numel()
    pos = int((eigenvalues > zero_tolerance).sum()) / n
    neg = int((eigenvalues < -zero_tolerance).sum()) / n
    return SpectrumShares(
        positive=pos,
        near_zero=1.0 - pos - neg,
        negative=neg,
        zero_tolerance=zero_tolerance,
        exact=True,
        method=f"exact, all {n} eigenvalues counted",
        positive_range=(pos, pos),
        negative_range=(neg, neg),
    )


def _distribution_bounds(theta: np.ndarray, weights: np.ndarray, x: float) -> tuple[float, float]:
    """Bounds on the share of the spectral measure at or below x, from the Gauss rule's nodes.

    Chebyshev-Markov-Stieltjes: with m nodes at or below x, the measure of (-inf, x] lies between
    the weights of the first m - 1 nodes and the weights of the first m + 1.
    """
    m = int(np.searchsorted(theta, x, side="right"))
    return float(weights[: max(m - 1, 0)].sum()), float(weights[: m + 1].sum())


def estimated_spectrum_shares(result: LanczosResult, zero_tolerance: float) -> SpectrumShares:
    """Stochastic Lanczos quadrature with the Lanczos run's own random start vector.

    The Lanczos tridiagonal matrix is the Gauss quadrature rule of the start vector's spectral measure
    (eigenvalue lambda_i weighted by (u_i . v)^2, for a random v an unbiased estimate of the
    eigenvalue distribution with sampling error about 1/sqrt(n)). Its nodes cannot resolve the dense
    near-zero bulk of a network's spectrum, so the shares come with ranges that hold for that measure
    (Chebyshev-Markov-Stieltjes inequalities), and the shares are the middle of the ranges. Ranges are
    wide when much mass sits near +-zero_tolerance. An estimate, never exact.
    """
    theta = np.asarray(result.ritz_values)
    weights = np.asarray(result.ritz_weights)
    weights = weights / weights.sum()
    below_low, below_high = _distribution_bounds(theta, weights, zero_tolerance)
    pos_range = (1.0 - below_high, 1.0 - below_low)
    neg_range = _distribution_bounds(theta, weights, -zero_tolerance)
    pos, neg = sum(pos_range) / 2, sum(neg_range) / 2
    return SpectrumShares(
        positive=pos,
        near_zero=max(0.0, 1.0 - pos - neg),
        negative=neg,
        zero_tolerance=zero_tolerance,
        exact=False,
        method=f"ESTIMATE by stochastic Lanczos quadrature, 1 random vector, {len(theta)} nodes",
        positive_range=pos_range,
        negative_range=neg_range,
    )
