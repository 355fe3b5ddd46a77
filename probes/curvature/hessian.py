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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

try:  # a tridiagonal eigensolver for Lanczos's small eigenproblem; numpy's dense eigh without it
    from scipy.linalg import eigh_tridiagonal
    from scipy.linalg.lapack import get_lapack_funcs
except ImportError:  # pragma: no cover - scipy is optional
    eigh_tridiagonal = None
    get_lapack_funcs = None

from probes.base import (
    ProbeCancelled,
    ProbeError,
    ProbeOutOfMemory,
    ProbeProgress,
    ProgressCallback,
    StopCheck,
    never_stop,
    no_progress,
)
from probes.curvature.options import GRAPH_MODES

# Eigenvalues within this fraction of the spectral radius count as "near zero" when a convergence
# test works relative to an eigenvalue's own size (a near-zero eigenvalue has no relative accuracy).
RELATIVE_FLOOR = 1e-4
# Lanczos keeps its basis in float64 unless that would take more than this many bytes; past it the
# basis takes the parameters' dtype (float32 for most models: 240 MiB for 60 vectors of 1M parameters)
BASIS_BYTES_FLOAT64 = 256 * 1024**2


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


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's CUDA out-of-memory class, or the CPU allocator's RuntimeError ("can't allocate memory")."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def out_of_memory(exc: BaseException, what: str) -> ProbeOutOfMemory:
    """The one-line error for an allocation that failed while building or using a Hessian graph."""
    return ProbeOutOfMemory(
        f"out of memory while {what}: measure on fewer samples at once (option batch_size, or samples)"
    )


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
            if is_out_of_memory(exc):
                raise out_of_memory(exc, "building the gradient graph") from None
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
            if is_out_of_memory(exc):
                raise out_of_memory(exc, "computing a Hessian-vector product") from None
            raise ProbeError(
                f"a layer of the model has no second derivative in torch: {_first_line(exc)}"
            ) from exc
        return flatten(
            [torch.zeros_like(p) if h is None else h for h, p in zip(products, self.params, strict=True)]
        )

    def release(self) -> None:
        """Drop the gradient graph (the memory of one forward pass)."""
        self._grads = None


# -- the Hessian of a loss summed over batches -------------------------------------------------------

# "auto" keeps every batch's double-backward graph only if they all fit in this share of free memory
GRAPH_MEMORY_SHARE = 0.25
GRAPH_MEMORY_CAP = 2 * 1024**3


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give (CUDA: the driver's count; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    limits = [_meminfo("/proc/meminfo", "MemAvailable:")]
    # a container's or a process's own limit is lower than the machine's free memory
    limits.append(_cgroup_free())
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        size = _meminfo("/proc/self/status", "VmSize:")
        if soft != resource.RLIM_INFINITY and size is not None:
            limits.append(max(0, soft - size))
    except (ImportError, OSError, ValueError):
        pass
    known = [n for n in limits if n is not None]
    return min(known) if known else None


def _meminfo(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _cgroup_free() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            top = f.read().strip()
        if top == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return max(0, int(top) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


def _counting_saved_bytes(
    fn: Callable[[], Sequence[torch.Tensor | None]],
) -> tuple[Sequence[torch.Tensor | None], int]:
    """Run fn and add up the bytes autograd saves meanwhile (forward and double-backward graph):
    the memory one batch's graph holds, measured rather than guessed."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total


class PiecewiseHessianOperator:
    """H v for a loss that is the sample-weighted mean of per-batch losses, one batch at a time.

    `pieces[i]()` returns batch i's mean loss (built fresh at each call), `sizes[i]` its samples; the
    loss is sum_i sizes[i]/N * piece_i. Two ways to get products, same numbers:
    - "retain": every batch's gradient graph (create_graph) is kept and one `autograd.grad` call sums
      the batches' products: fastest, memory = all batches' graphs (pieces of 256 were 0.44-0.56x the
      time of one whole graph on CNNs, neutral on MLPs: issue 19);
    - "recompute": each product rebuilds one batch's graph at a time and frees it: memory = ONE
      batch's double-backward graph whatever the data set size, at about twice the time per product.
    "auto" measures the first batch's graph (the bytes autograd saves) and retains when all batches
    fit in GRAPH_MEMORY_SHARE of free memory (at most GRAPH_MEMORY_CAP), else recomputes.

    Same interface as `HessianOperator` (names, params, gradient, loss, dim, dtype, device, skipped,
    hvp_count, __call__, release), plus per-batch gradient norms and `per_batch(v)`.
    """

    _first_loss: float  # the first batch's loss, set where its graph is measured, read once in _build

    def __init__(
        self,
        pieces: Sequence[Callable[[], torch.Tensor]],
        sizes: Sequence[int],
        named_parameters: Sequence[tuple[str, torch.Tensor]],
        *,
        graph: str = "auto",
        memory_budget: int | None = None,
    ) -> None:
        if graph not in GRAPH_MODES:
            raise ProbeError(f"graph must be one of {', '.join(GRAPH_MODES)} (got {graph!r})", field="graph")
        if not pieces or len(pieces) != len(sizes):
            raise ProbeError("the data is empty")
        candidates = [(name, p) for name, p in named_parameters if p.requires_grad]
        if not candidates:
            raise ProbeError("the model has no parameters that require gradients")
        self._pieces = list(pieces)
        self.sizes = [int(n) for n in sizes]
        total = sum(self.sizes)
        self.weights = [n / total for n in self.sizes]
        all_params = [p for _, p in candidates]
        first, self.graph_bytes = self._graph(0, all_params)
        used = [g is not None for g in first]
        # a parameter is in the space if any batch's loss depends on it; the first batch decides
        # (batches share one model, so a parameter unused by one is unused by all but in odd models)
        kept = [(n, p) for (n, p), u in zip(candidates, used, strict=True) if u]
        self.skipped = [n for (n, _), u in zip(candidates, used, strict=True) if not u]
        if not kept:
            raise ProbeError("the loss does not depend on any parameter of the model")
        self.names = [n for n, _ in kept]
        self.params = [p for _, p in kept]
        first = [g for g, u in zip(first, used, strict=True) if u]
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.dim = sum(p.numel() for p in self.params)
        self.batches = len(self._pieces)
        self.memory_budget = memory_budget if memory_budget is not None else self._budget()
        self._first: list[torch.Tensor | None] | None = first
        del first  # in recompute mode the first batch's graph must go as soon as its gradient is read
        try:
            self._build(graph)
        except RuntimeError as exc:
            raise self._error(exc, "building the gradient graph of one batch") from None

    def _build(self, graph: str) -> None:
        needed = self.graph_bytes * self.batches
        self.retained = graph == "retain" or (graph == "auto" and needed <= self.memory_budget)
        self.graph_mode = "retained" if self.retained else "recomputed"
        self.hvp_count = 0
        self._kept: list[list[torch.Tensor | None]] | None = [] if self.retained else None
        gradient = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        losses: list[float] = []
        self.batch_gradient_norms: list[float] = []
        for i in range(self.batches):
            if i == 0:
                assert self._first is not None
                grads, loss = self._first, self._first_loss
                self._first = None
            else:
                grads, loss = self._piece_gradient(i, create_graph=self.retained)
            flat = flatten(
                [
                    torch.zeros_like(p) if g is None else g.detach()
                    for g, p in zip(grads, self.params, strict=True)
                ]
            )
            gradient += self.weights[i] * flat.double()
            self.batch_gradient_norms.append(float(flat.double().norm()))
            losses.append(loss)
            if self._kept is not None:
                self._kept.append(list(grads))
        self._first_loss = math.nan
        self.loss = float(sum(w * v for w, v in zip(self.weights, losses, strict=True)))
        self.batch_losses = losses
        self.gradient = gradient.to(self.dtype)

    def _budget(self) -> int:
        free = free_memory(self.device)
        share = int(GRAPH_MEMORY_SHARE * free) if free is not None else GRAPH_MEMORY_CAP
        return min(share, GRAPH_MEMORY_CAP)

    def _graph(self, i: int, params: list[torch.Tensor]) -> tuple[list[torch.Tensor | None], int]:
        def build() -> list[torch.Tensor | None]:
            loss = self._pieces[i]()
            self._first_loss = float(loss.detach())
            return list(torch.autograd.grad(loss, params, create_graph=True, allow_unused=True))

        try:
            grads, saved = _counting_saved_bytes(build)
        except RuntimeError as exc:
            raise self._error(exc, "building the gradient graph of one batch") from None
        return list(grads), saved

    def _piece_gradient(self, i: int, create_graph: bool) -> tuple[list[torch.Tensor | None], float]:
        try:
            loss = self._pieces[i]()
            grads = torch.autograd.grad(loss, self.params, create_graph=create_graph, allow_unused=True)
        except RuntimeError as exc:
            raise self._error(exc, "building the gradient graph of one batch") from None
        return list(grads), float(loss.detach())

    def _error(self, exc: RuntimeError, what: str) -> ProbeError:
        if is_out_of_memory(exc):
            return self.out_of_memory(what)
        if "graph" in what:  # building the gradient graph: the first derivative is not differentiable
            return ProbeError(f"the gradient of the loss cannot be differentiated twice: {_first_line(exc)}")
        return ProbeError(f"a layer of the model has no second derivative in torch: {_first_line(exc)}")

    def out_of_memory(self, what: str) -> ProbeOutOfMemory:
        """The error with the batch size that would fit, from the measured bytes of one batch's graph."""
        batch = max(self.sizes)
        graph = getattr(self, "graph_bytes", 0)
        free = free_memory(self.params[0].device if hasattr(self, "params") else torch.device("cpu"))
        if graph and free:
            # one batch's double-backward graph (recompute) must fit, with room for the products
            fit = max(1, int(batch * 0.5 * free / graph))
            suggestion = f"batch_size {min(fit, max(1, batch // 2))}"
        else:
            suggestion = f"batch_size {max(1, batch // 4)}"
        mode = getattr(self, "graph_mode", "retained")
        measured = f", one batch's graph {graph / 2**20:.0f} MiB" if graph else ""
        return ProbeOutOfMemory(
            f"out of memory while {what} (batches of {batch} samples, graph {mode}{measured}): "
            f"use {suggestion} (or fewer samples)"
        )

    def _active(self, grads: Sequence[torch.Tensor | None]) -> list[int]:
        return [j for j, g in enumerate(grads) if g is not None and g.requires_grad]

    def _product(
        self, grads: Sequence[torch.Tensor | None], pieces: list[torch.Tensor], retain: bool
    ) -> list[torch.Tensor | None]:
        active = self._active(grads)
        if not active:
            return [None] * len(self.params)
        outputs = [g for j in active if (g := grads[j]) is not None]  # all of them: `_active` checked
        return list(
            torch.autograd.grad(
                outputs,
                self.params,
                grad_outputs=[pieces[j] for j in active],
                retain_graph=retain,
                allow_unused=True,
            )
        )

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        """H @ vector over all batches (their sample-weighted sum), in the parameters' dtype."""
        self.hvp_count += 1
        pieces = unflatten(vector.to(device=self.device, dtype=self.dtype), self.params)
        try:
            if self._kept is not None:
                # one call over every batch's graph: autograd sums the batches' weighted products
                grads: list[torch.Tensor] = []
                weighted: list[torch.Tensor] = []
                for weight, batch in zip(self.weights, self._kept, strict=True):
                    for j in self._active(batch):
                        if (g := batch[j]) is not None:  # always: `_active` keeps only these
                            grads.append(g)
                            weighted.append(pieces[j] * weight)
                if not grads:
                    return torch.zeros(self.dim, dtype=self.dtype, device=self.device)
                products = torch.autograd.grad(
                    grads, self.params, grad_outputs=weighted, retain_graph=True, allow_unused=True
                )
                return self._flat(products)
            out = torch.zeros(self.dim, dtype=self.dtype, device=self.device)
            for i in range(self.batches):
                batch_grads, _ = self._piece_gradient(i, create_graph=True)
                out += self.weights[i] * self._flat(self._product(batch_grads, pieces, retain=False))
            return out
        except RuntimeError as exc:
            raise self._error(exc, "computing a Hessian-vector product") from None

    def per_batch(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """H_b @ vector for every batch b on its own (its own mean loss); counts as one product."""
        return list(self._batch_products(vector))

    def per_batch_quotients(self, vector: torch.Tensor) -> list[float]:
        """vector^T H_b vector for every batch b on its own, one batch's product alive at a time (a
        list of products would grow with the batches: 43 MiB each on an 11M model); one product."""
        u = vector.detach().to(device=self.device).double()
        return [float(u @ product.double()) for product in self._batch_products(vector)]

    def _batch_products(self, vector: torch.Tensor) -> Iterator[torch.Tensor]:
        """H_b @ vector for each batch in turn (flat), yielded one at a time; one product in all."""
        self.hvp_count += 1
        pieces = unflatten(vector.detach().to(device=self.device, dtype=self.dtype), self.params)
        try:
            for i in range(self.batches):
                if self._kept is not None:
                    products = self._product(self._kept[i], pieces, retain=True)
                else:
                    grads, _ = self._piece_gradient(i, create_graph=True)
                    products = self._product(grads, pieces, retain=False)
                yield self._flat(products)
        except RuntimeError as exc:
            raise self._error(exc, "computing a Hessian-vector product") from None

    def _flat(self, products: Sequence[torch.Tensor | None]) -> torch.Tensor:
        return flatten(
            [torch.zeros_like(p) if h is None else h for h, p in zip(products, self.params, strict=True)]
        )

    def release(self) -> None:
        """Drop the retained graphs."""
        self._kept = None
        self._pieces = []


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
    stopped_because: str  # "converged" | "budget" | "invariant subspace" | "whole space" | "settled"
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
    converged_max: bool = False  # each end on its own (`converged` is both)
    converged_min: bool = False
    settled: str | None = None  # what the caller's `settled` test said when it stopped the run
    basis_dtype: str = "float64"


@dataclass(frozen=True)
class LanczosStep:
    """What a `settled` test sees after each product: both ends with their error estimates."""

    iteration: int
    lambda_max: float
    lambda_min: float
    residual_max: float
    residual_min: float
    error_bound_max: float
    error_bound_min: float
    change_max: float  # |Ritz value - previous step's| (inf on the first step)
    change_min: float
    converged_max: bool  # at the run's own tolerance
    converged_min: bool


SettledTest = Callable[[LanczosStep], str | None]


def _basis_dtype(dim: int, steps: int, param_dtype: torch.dtype) -> torch.dtype:
    if param_dtype == torch.float64 or dim * (steps + 1) * 8 <= BASIS_BYTES_FLOAT64:
        return torch.float64
    return param_dtype


def _bound(residual: float, gap: float) -> float:
    return min(residual, residual * residual / gap) if gap > 0 else residual


def tridiagonal_extremes(
    alphas: Sequence[float], betas: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two lowest and two highest eigenvalues of the k x k Lanczos tridiagonal matrix, and the
    last components of the extreme eigenvectors (residual = beta * |last component|).

    Only the ends are needed at each step, so a tridiagonal solver (LAPACK stebz + stein through
    scipy, O(k) per eigenvalue, no BLAS thread pool) replaces a dense eigh of the whole matrix; numpy's
    dense eigh is the fallback when scipy is absent. Returns (low [theta_0, theta_1],
    high [theta_{k-2}, theta_{k-1}], last [s_{k,0}, s_{k,k-1}]).
    """
    k = len(alphas)
    d = np.asarray(alphas, dtype=np.float64)
    e = np.asarray(betas[: k - 1], dtype=np.float64)
    if k <= 2 or eigh_tridiagonal is None:
        theta, vectors = np.linalg.eigh(_tridiagonal(list(alphas), list(betas)))
        low, high = theta[:2], theta[-2:]
        return low, high, np.array([vectors[-1, 0], vectors[-1, -1]])
    lw, lv = _ends(d, e, 1, 2)
    hw, hv = _ends(d, e, k - 1, k)
    return lw, hw, np.array([lv[-1, 0], hv[-1, -1]])


_STEBZ_STEIN: tuple[Any, Any] | None = None


def _ends(d: np.ndarray, e: np.ndarray, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues `first`..`last` (1-based, ascending) of the tridiagonal (d, e) and their
    eigenvectors: the LAPACK calls `scipy.linalg.eigh_tridiagonal(d, e, select="i")` makes (stebz in
    block order, then stein, then sorted), with the same arguments, so the same bits, without its
    argument checks and driver lookup, which were ~0.2 ms of every Lanczos step here (two calls a
    step; a warm lambda_max measurement of the watched run takes 3-5 steps)."""
    global _STEBZ_STEIN
    if _STEBZ_STEIN is None:
        assert get_lapack_funcs is not None  # only called when scipy is there
        _STEBZ_STEIN = get_lapack_funcs(("stebz", "stein"), (d, e))
    stebz, stein = _STEBZ_STEIN
    # select 2: by index (scipy's "i"); vl, vu unused; tol 0: LAPACK's default
    m, w, iblock, isplit, info = stebz(d, e, 2, 0.0, 1.0, first, last, 0.0, "B")
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK stebz failed (info {info}) on the Lanczos tridiagonal")
    w = w[:m]
    v, info = stein(d, e, w, iblock, isplit)
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK stein: {info} eigenvectors of the Lanczos tridiagonal failed")
    order = np.argsort(w)
    return w[order], v[:, order]


def lanczos(
    hvp: Callable[[torch.Tensor], torch.Tensor],
    *,
    max_iter: int = 60,
    tol: float = 1e-3,
    seed: int = 0,
    min_iter: int = 5,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
    settled: SettledTest | None = None,
    start: torch.Tensor | None = None,
) -> LanczosResult:
    """Lanczos with full reorthogonalization for lambda_max and lambda_min of `hvp`.

    `hvp` is a `HessianOperator` or anything with its `dim`, `dtype`, `device` and `__call__`.
    One product per step; the basis (float64 unless too big) is kept so that every new vector is
    reorthogonalized against all earlier ones, which keeps the Ritz values free of the spurious copies
    plain Lanczos produces in floating point.

    An end counts as converged when its Ritz residual r satisfies r <= tol * scale (a rigorous
    bound), or when on two steps running both min(r, r^2/gap) <= tol * scale and its Ritz value
    moved by at most tol * scale; scale = max(|theta|, RELATIVE_FLOOR * spectral radius). Running
    out of `max_iter` products is reported as `converged=False`, never raised.

    `settled(step)`, when given, is asked after every product (from `min_iter` on) whether the caller's
    question is answered; a reason string stops the run there (`stopped_because == "settled"`), so a
    decision costs only the products it needs. `start`: the start vector (random when None).
    """
    # hvp is typed as a plain callable; every operator passed in also carries dim, device and dtype
    dim: int = hvp.dim  # type: ignore[attr-defined]
    device: torch.device = hvp.device  # type: ignore[attr-defined]
    steps = max(1, min(max_iter, dim))
    dtype = _basis_dtype(dim, steps, hvp.dtype)  # type: ignore[attr-defined]
    if start is None:
        gen = torch.Generator().manual_seed(seed)
        q = torch.randn(dim, generator=gen, dtype=torch.float64)
    else:
        q = start.detach().to(device="cpu", dtype=torch.float64)
    q = q.to(device=device, dtype=dtype)
    basis = torch.empty(steps + 1, dim, dtype=dtype, device=device)
    torch.div(q, q.norm(), out=basis[0])  # written in place: no temporary of the model's size
    alphas: list[float] = []
    betas: list[float] = []
    history: list[tuple[float, float]] = []
    stopped = "budget"
    reason: str | None = None
    converged = conv_max = conv_min = was_max = was_min = False
    bound_max = bound_min = res_max = res_min = math.inf
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
        low, high, last = tridiagonal_extremes(alphas, betas)
        theta_min, theta_max = float(low[0]), float(high[-1])
        res_min, res_max = abs(beta * float(last[0])), abs(beta * float(last[1]))
        gap_min = float(low[1] - low[0]) if k > 1 else 0.0
        gap_max = float(high[-1] - high[-2]) if k > 1 else 0.0
        bound_min, bound_max = _bound(res_min, gap_min), _bound(res_max, gap_max)
        history.append((theta_max, theta_min))
        if progress is not no_progress:  # a pydantic model per step costs ~6 us: only when someone listens
            progress(
                ProbeProgress(
                    probe=probe,
                    done=k,
                    total=steps,
                    message=f"Lanczos {k}/{steps} Hessian-vector products",
                    estimate={"lambda_max": theta_max, "lambda_min": theta_min},
                )
            )
        radius = max(abs(theta_min), abs(theta_max))
        change_max = abs(history[-1][0] - history[-2][0]) if k > 1 else math.inf
        change_min = abs(history[-1][1] - history[-2][1]) if k > 1 else math.inf
        # the heuristic half of the test must hold on two steps running: one step's r^2/gap can look
        # tiny while a close eigenvalue is still unresolved (seen on a 0.8675 / 0.8854 top pair)
        now_max = _end_converged(theta_max, res_max, bound_max, change_max, tol, radius)
        now_min = _end_converged(theta_min, res_min, bound_min, change_min, tol, radius)
        conv_max = k > 1 and (_rigorous(theta_max, res_max, tol, radius) or (now_max and was_max))
        conv_min = k > 1 and (_rigorous(theta_min, res_min, tol, radius) or (now_min and was_min))
        was_max, was_min = now_max, now_min
        if beta <= 1e-12 * max(radius, 1e-300) * math.sqrt(dim):
            stopped = "invariant subspace"  # the Krylov space holds every eigenvalue
            converged = conv_max = conv_min = True
            break
        if k >= min(min_iter, dim) and conv_max and conv_min:
            stopped, converged = "converged", True
            break
        if k == dim:
            stopped = "whole space"
            converged = conv_max = conv_min = True
            break
        if settled is not None and k >= min(min_iter, dim):
            step = LanczosStep(
                k, theta_max, theta_min, res_max, res_min, bound_max, bound_min,
                change_max, change_min, conv_max, conv_min,
            )  # fmt: skip
            reason = settled(step)
            if reason:
                stopped = "settled"
                break
        betas.append(beta)
        torch.div(w, beta, out=basis[k])
    # the whole small eigenproblem once, at the end: Ritz vectors and quadrature weights
    theta, vectors = np.linalg.eigh(_tridiagonal(alphas, betas))
    used = basis[: len(alphas)]
    s = torch.as_tensor(vectors, dtype=dtype, device=device)
    return LanczosResult(
        lambda_max=float(theta[-1]),
        lambda_min=float(theta[0]),
        converged=converged,
        iterations=len(alphas),
        stopped_because=stopped,
        residual_max=res_max,
        residual_min=res_min,
        error_bound_max=bound_max,
        error_bound_min=bound_min,
        tolerance=tol,
        ritz_values=[float(t) for t in theta],
        ritz_weights=[float(v) ** 2 for v in vectors[0, :]],
        history=history,
        vector_max=used.T @ s[:, -1],
        vector_min=used.T @ s[:, 0],
        converged_max=conv_max,
        converged_min=conv_min,
        settled=reason,
        basis_dtype=str(dtype).removeprefix("torch."),
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


def _rigorous(theta: float, residual: float, tol: float, radius: float) -> bool:
    return residual <= tol * max(abs(theta), RELATIVE_FLOOR * radius)


def _end_converged(
    theta: float, residual: float, bound: float, change: float, tol: float, radius: float
) -> bool:
    scale = max(abs(theta), RELATIVE_FLOOR * radius)
    limit = tol * scale
    return residual <= limit or (bound <= limit and change <= limit)


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


def consistent_shares(shares: SpectrumShares, negative: bool | None, dim: int) -> SpectrumShares:
    """The estimated shares made to agree with what the extreme eigenvalues proved (issue 10 item 5).

    The quadrature's ranges hold for the start vector's spectral measure, not for the count; once
    lambda_min is known to be above -tau there are NO clearly negative eigenvalues, and once one is
    proven below -tau there is at least one (1/dim). The estimate must not say otherwise next to it.
    """
    neg_low, neg_high = shares.negative_range
    if negative is False:
        neg_low = neg_high = 0.0
    elif negative is True:
        neg_low = max(neg_low, 1.0 / dim)
        neg_high = max(neg_high, neg_low)
    else:
        return shares
    pos_low, pos_high = shares.positive_range
    pos_high = min(pos_high, 1.0 - neg_low)
    pos_low = min(pos_low, pos_high)
    pos, neg = (pos_low + pos_high) / 2, (neg_low + neg_high) / 2
    return SpectrumShares(
        positive=pos,
        near_zero=max(0.0, 1.0 - pos - neg),
        negative=neg,
        zero_tolerance=shares.zero_tolerance,
        exact=False,
        method=shares.method + "; clipped to agree with lambda_min",
        positive_range=(pos_low, pos_high),
        negative_range=(neg_low, neg_high),
    )
