"""Curvature measurements on a model, a loss and data you already have (a notebook, no Setup file).

    from probes.curvature import measure_curvature
    m = measure_curvature(model, torch.nn.functional.cross_entropy, (x, y), optimizer=opt)
    m.classification, m.gradient_norm, m.lambda_min, m.escape, m.rules, m.to_dict()

The result types and the words explaining them live in `probes.curvature.report`.

The `curvature` probe is this function applied to the model trained with the user's recipe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader

from probes.base import (
    ProbeError,
    ProbeOutOfMemory,
    ProbeProgress,
    ProgressCallback,
    StopCheck,
    never_stop,
    no_progress,
)
from probes.curvature.hessian import (
    HessianOperator,
    LanczosResult,
    LanczosStep,
    PiecewiseHessianOperator,
    SettledTest,
    consistent_shares,
    estimated_spectrum_shares,
    exact_spectrum,
    exact_spectrum_shares,
    is_out_of_memory,
    lanczos,
)
from probes.curvature.options import GOAL_DEFAULTS as GOAL_DEFAULTS  # re-exported: old imports
from probes.curvature.options import GOALS as GOALS
from probes.curvature.options import CurvatureOptions, parse_samples
from probes.curvature.options import GoalDefaults as GoalDefaults
from probes.curvature.report import (
    CurvatureMeasurement,
    EscapeMeasurement,
    EscapeStep,
    classify,
    describe,
    minimum_ratio_classification,
)
from probes.curvature.spectrum import per_layer as layer_extremes
from probes.curvature.spectrum import spectral_density
from probes.setup import tensors
from probes.stability import StepRule, stability_check
from probes.threads import limit_threads
from probes.training import checked_loss
from rules.judgements import eigenvalue_negative, gradient_small

Batch = tuple[torch.Tensor, torch.Tensor]
ESCAPE_STEPS = (1e-3, 1e-2, 1e-1, 1.0)


# -- data and model state ---------------------------------------------------------------------------


def prepare_batches(
    data: Any, samples: int | None, batch_size: int | None, device: torch.device, *, move: bool = True
) -> list[Batch]:
    """(x, y) tensors, a Dataset or a DataLoader -> fixed batches on `device`, `samples` in all.

    A DataLoader is iterated as it is (its collate function and transforms apply) and its batches
    are kept; tensors are cut into `batch_size` pieces (one piece when None). `move=False` leaves
    the batches where the data is (each goes to the device when used: device memory then follows
    one batch, not the data set).
    """
    if samples is not None and samples <= 0:
        raise ProbeError(f"samples must be positive (got {samples})", field="samples")
    if isinstance(data, DataLoader):
        chunks = list(_loader_batches(data, samples))
    else:
        x, y = tensors(data, samples, "data")
        size = batch_size or len(x)
        chunks = list(zip(x.split(size), y.split(size), strict=True))
    if not chunks:
        raise ProbeError("the data is empty")
    if not move:
        return chunks
    return [(xb.to(device), yb.to(device)) for xb, yb in chunks]


def _loader_batches(loader: DataLoader, samples: int | None) -> Iterator[Batch]:
    taken = 0
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ProbeError("the DataLoader must yield (inputs, targets) batches")
        xb, yb = batch[0], batch[1]
        if samples is not None and taken + len(xb) > samples:
            xb, yb = xb[: samples - taken], yb[: samples - taken]
        if len(xb):
            yield xb, yb
        taken += len(xb)
        if samples is not None and taken >= samples:
            return


@contextmanager
def modes_and_buffers_kept(model: nn.Module | None, mode: str) -> Iterator[None]:
    """Put the model in `mode` ("train" or "eval") and give back every module's mode and every buffer
    (batch-norm running statistics) afterwards, whatever happened inside. One home: the curvature
    probe and the live watch both measure a model they must leave as they found it."""
    flags = [(m, m.training) for m in model.modules()] if model is not None else []
    buffers = [(b, b.detach().clone()) for b in model.buffers()] if model is not None else []
    try:
        if model is not None:
            model.train(mode == "train")
        yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for module, flag in flags:
            module.training = flag


@contextmanager
def measuring(model: nn.Module, mode: str, device: torch.device) -> Iterator[None]:
    """Put the model in `mode` and give back its modes, buffers (batch-norm running statistics) and
    the global random state afterwards: a measurement must not change the model it measures."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), modes_and_buffers_kept(model, mode):
        yield


def batch_loss(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    batches: Sequence[Batch],
    seed: int,
    parameters: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The sample-weighted mean of the loss over the fixed batches (assumes a mean-reduced loss).

    The random state is reset before each batch, so dropout draws the same masks on every call: in train mode
    the measured function is the loss with those masks fixed. Call it inside `measuring()`, which
    gives the random state back.
    """
    total_count = sum(len(x) for x, _ in batches)
    total: torch.Tensor | float = 0.0
    for i, (x, y) in enumerate(batches):
        loss = piece_loss(model, loss_fn, x, y, seed + i, parameters)
        total = total + loss * (len(x) / total_count)
    assert isinstance(total, torch.Tensor)
    return total


def piece_loss(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    parameters: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One batch's mean loss, the random state reset to `seed` first (the same dropout masks on every
    call), the batch moved to the model's device here so only one batch at a time lives there."""
    torch.manual_seed(seed)
    first = next(iter(parameters.values())) if parameters else next(model.parameters())
    x, y = x.to(first.device), y.to(first.device)
    forward = model if parameters is None else partial(_call, model, parameters)
    return checked_loss(forward, loss_fn, x, y)


def _call(model: nn.Module, parameters: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return functional_call(model, parameters, (x,))


# -- the measurement --------------------------------------------------------------------------------

# eval-mode batches are cut into pieces of this many samples: identical eigenvalues, 0.44-0.56x the
# time of one whole graph on CNNs, neutral on MLPs (issue 19's measurement)
PIECE = 256
# the notebook API measures accurately unless told otherwise (the probe decides, see probe.py)
ACCURATE = CurvatureOptions(goal="accurate")


def measure_curvature(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    data: Any,
    options: CurvatureOptions | None = None,
    *,
    optimizer: torch.optim.Optimizer | StepRule | None = None,
    learning_rate: float | None = None,
    escape_steps: Sequence[float] = ESCAPE_STEPS,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    probe: str = "curvature",
    **given: Any,
) -> CurvatureMeasurement:
    """Gradient norm, lambda_max, lambda_min, minimum ratio, classification, stability and escape.

    `options` (default: `CurvatureOptions(goal="accurate")`), with any of its fields given as keywords
    on top (`samples=512, per_layer=True`); see `probes.curvature.options` for each one.
    `data`: an (inputs, targets) batch, a Dataset or a DataLoader; the first `samples` pairs are used
    (None or "all": all). `mode`: "eval" or "train" (dropout and batch norm change the loss, hence H).
    The loss, gradient and products are accumulated over batches of `batch_size` (default: pieces of
    256 in eval mode; a DataLoader's own batches): memory follows one batch (`graph`: "auto",
    "retain" or "recompute", see `PiecewiseHessianOperator`).
    `goal`: "accurate" converges both ends to `tolerance`; "decide" stops when the flowchart's
    question is settled (lambda_max to its tolerance; lambda_min only when the gradient is small, and
    only until its sign against the threshold is proven). Up to `exact_limit` parameters the Hessian
    is formed exactly; above, Lanczos spends at most `max_hvp` products. `optimizer` (or
    `learning_rate` alone, read as plain SGD) enables the stability check.
    """
    opts = CurvatureOptions.of(options or ACCURATE, **given).validate()
    assert opts.max_hvp is not None and opts.exact_limit is not None and opts.tolerance is not None
    samples, mode, goal, batch_size = opts.samples, opts.mode, opts.goal, opts.batch_size
    max_hvp, exact_limit, tolerance = opts.max_hvp, opts.exact_limit, opts.tolerance
    gradient_threshold, negative_threshold = opts.gradient_threshold, opts.negative_threshold
    per_layer, density, density_vectors = opts.per_layer, opts.density, opts.density_vectors
    limit_threads()
    count_limit = parse_samples(samples)
    started = time.perf_counter()
    first = next(model.parameters(), None)
    if first is None:
        raise ProbeError("the model has no parameters")
    device = first.device
    piece = batch_size or (PIECE if mode == "eval" else None)
    batches = prepare_batches(data, count_limit, piece, device, move=False)
    count = sum(len(x) for x, _ in batches)
    progress(ProbeProgress(probe=probe, done=0, total=max(1, max_hvp), message="gradient"))
    with measuring(model, mode, device):
        pieces = [partial(piece_loss, model, loss_fn, x, y, seed + i) for i, (x, y) in enumerate(batches)]
        operator = _operator(opts, pieces, [len(x) for x, _ in batches], model)
        seconds_gradient = time.perf_counter() - started
        gradient_norm = float(operator.gradient.double().norm())
        if not math.isfinite(operator.loss) or not math.isfinite(gradient_norm):
            raise ProbeError(
                f"the loss at the measured point is {operator.loss} (gradient norm {gradient_norm}) "
                f"on {count} samples in {mode} mode"
            )
        small = gradient_small(gradient_norm, gradient_threshold).verdict == "yes"
        settled = decision_test(small, negative_threshold, tolerance) if goal == "decide" else None
        try:
            spectrum = _spectrum(
                operator, exact_limit, max_hvp, tolerance, seed, progress, should_stop, probe, settled
            )
            spread = _batch_spread(operator, spectrum, goal)
            layers = (
                layer_extremes(
                    operator,
                    max_hvp=max_hvp,
                    tolerance=tolerance,
                    seed=seed,
                    progress=progress,
                    should_stop=should_stop,
                    probe=probe,
                )
                if per_layer
                else None
            )
            tau = negative_threshold * max(abs(spectrum.lambda_max), abs(spectrum.lambda_min))
            spectral = (
                spectral_density(
                    operator,
                    vectors=density_vectors,
                    steps=min(30, operator.dim),
                    zero_tolerance=tau,
                    seed=seed,
                    progress=progress,
                    should_stop=should_stop,
                    probe=probe,
                )
                if density
                else None
            )
        except RuntimeError as exc:
            if is_out_of_memory(exc):
                raise ProbeOutOfMemory(
                    f"out of memory while keeping the Lanczos basis ({max_hvp} vectors of "
                    f"{operator.dim} parameters) or the exact Hessian: lower max_hvp or exact_limit"
                ) from None
            raise
        finally:
            operator.release()
        progress(
            ProbeProgress(
                probe=probe,
                done=1,
                total=1,
                message="spectrum done" if spectrum.converged else "spectrum: budget spent",
                estimate={"lambda_max": spectrum.lambda_max, "lambda_min": spectrum.lambda_min},
            )
        )
        rule = optimizer if isinstance(optimizer, StepRule) else StepRule.of(optimizer, learning_rate)
        result = _assemble(
            operator, spectrum, gradient_norm, gradient_threshold, negative_threshold, mode, count, rule
        )
        result.goal = goal
        result.batches = operator.batches
        result.batch_size = max(operator.sizes)
        result.graph = operator.graph_mode
        result.graph_bytes_per_batch = operator.graph_bytes
        result.batch_spread = spread
        result.layers = layers
        result.density = spectral
        result.distributed = _where(operator)
        # only at a saddle: elsewhere the gradient alone already lowers the loss
        if result.classification == "saddle_point":
            result.escape = measure_escape(
                model, loss_fn, batches, operator, spectrum.vector_min, result.lambda_min, escape_steps, seed
            )
    result.seconds_gradient = seconds_gradient
    result.seconds = time.perf_counter() - started
    result.rules, result.warnings = describe(result, total_samples=_length(data))
    return result


def _operator(
    opts: CurvatureOptions, pieces: Sequence[Callable[[], torch.Tensor]], sizes: list[int], model: nn.Module
) -> PiecewiseHessianOperator:
    """The products' operator: this process (default), all torch.distributed ranks, or Ray actors."""
    named = list(model.named_parameters())
    if opts.distributed:
        from probes.curvature.distributed import DistributedHessianOperator, init_from_environment

        init_from_environment()
        return DistributedHessianOperator(pieces, sizes, named, graph=opts.graph)  # type: ignore[return-value]
    if opts.executor != "local":
        from probes.curvature.ray_executor import RayHessianOperator

        return RayHessianOperator(
            pieces, sizes, named, graph=opts.graph, address=opts.executor, workers=opts.workers
        )  # type: ignore[return-value]
    return PiecewiseHessianOperator(pieces, sizes, named, graph=opts.graph)


def _where(operator: Any) -> dict[str, Any] | None:
    """Where the products ran, for the JSON: None in this process alone."""
    describe_where = getattr(operator, "where", None)
    return describe_where() if callable(describe_where) else None


# a "no clearly negative eigenvalue" verdict needs at least this many products: a bulk of
# eigenvalues near zero can hold the bottom Ritz value still for a few steps before an outlier below
# appears (seen: step 5 looked settled at -0.0002 on an 82k MLP whose lambda_min is -0.073)
MIN_STEPS_FOR_NO = 10


def decision_test(small: bool, negative_threshold: float, tolerance: float) -> SettledTest:
    """When the flowchart's question is answered, for `lanczos(settled=...)`.

    Not at a critical point: lambda_max to its tolerance (the learning-rate check) and nothing about
    lambda_min. At a critical point, lambda_max to its tolerance (it sets the threshold) and then:
    - a saddle is PROVEN when the Ritz lambda_min lies below -tau even with lambda_max at the top of its
      error (Ritz values interlace, so the true lambda_min is lower still);
    - no clearly negative eigenvalue when, on two steps running and after MIN_STEPS_FOR_NO products,
      the Ritz lambda_min sits above -tau by more than twice its residual (some eigenvalue lies
      within the residual of it) and more than twice its last change. This side is a convergence
      test, not a proof: Lanczos can miss an eigenvalue its start vector hardly touches.
    """
    streak = 0

    def settled(step: LanczosStep) -> str | None:
        nonlocal streak
        if not step.converged_max:
            return None
        if not small:
            return "not at a critical point: lambda_max converged, lambda_min not needed"
        theta_min, theta_max = step.lambda_min, step.lambda_max
        tau_high = negative_threshold * max(abs(theta_max) * (1 + tolerance), abs(theta_min))
        if theta_min < -tau_high:
            return f"saddle proven: Ritz lambda_min {theta_min:.4g} < -{tau_high:.3g} (interlacing)"
        margin = theta_min + negative_threshold * max(abs(theta_max), abs(theta_min))
        calm = margin > 0 and 2 * step.residual_min <= margin and 2 * step.change_min <= margin
        streak = streak + 1 if calm else 0
        if streak >= 2 and step.iteration >= MIN_STEPS_FOR_NO:
            return (
                f"no clearly negative eigenvalue: lambda_min {theta_min:.4g} above the threshold by "
                f"{margin:.3g}, more than twice its residual {step.residual_min:.2g} on two steps running"
            )
        return None

    return settled


def validate_options(
    mode: str,
    gradient_threshold: float,
    negative_threshold: float,
    max_hvp: int,
    exact_limit: int,
    tol: float,
) -> None:
    """Kept for callers of the old flat module: `CurvatureOptions(...).validate()` is the check."""
    CurvatureOptions(
        mode=mode,
        gradient_threshold=gradient_threshold,
        negative_threshold=negative_threshold,
        max_hvp=max_hvp,
        exact_limit=exact_limit,
        tolerance=tol,
    ).validate()


def _length(data: Any) -> int | None:
    try:
        if isinstance(data, (tuple, list)) and len(data) == 2:
            return len(data[0])
        if isinstance(data, DataLoader):
            return len(data.dataset)  # type: ignore[arg-type]  # torch types Dataset without __len__; these are sized (as_dataset checks)
        return len(data)
    except TypeError:
        return None


@dataclass
class _Spectrum:
    lambda_max: float
    lambda_min: float
    vector_min: torch.Tensor
    vector_max: torch.Tensor
    converged: bool
    lanczos: LanczosResult | None
    eigenvalues: torch.Tensor | None

    @property
    def converged_max(self) -> bool:
        return self.converged or (self.lanczos is not None and self.lanczos.converged_max)


def _spectrum(
    operator: PiecewiseHessianOperator,
    exact_limit: int,
    max_hvp: int,
    tolerance: float,
    seed: int,
    progress: ProgressCallback,
    should_stop: StopCheck,
    probe: str,
    settled: SettledTest | None = None,
) -> _Spectrum:
    if operator.dim <= exact_limit:
        exact = exact_spectrum(operator, progress=progress, should_stop=should_stop, probe=probe)  # type: ignore[arg-type]  # the piecewise operator has the same interface
        return _Spectrum(
            exact.lambda_max,
            exact.lambda_min,
            exact.vector_min,
            exact.vector_max,
            True,
            None,
            exact.eigenvalues,
        )
    run = lanczos(
        operator,
        max_iter=max_hvp,
        tol=tolerance,
        seed=seed,
        progress=progress,
        should_stop=should_stop,
        probe=probe,
        settled=settled,
        # deciding: the settled test may stop from the 3rd product (its "no" side waits for 10);
        # the convergence test keeps its 5
        min_iter=3 if settled is not None else 5,
    )
    assert run.vector_min is not None and run.vector_max is not None
    return _Spectrum(run.lambda_max, run.lambda_min, run.vector_min, run.vector_max, run.converged, run, None)


def _spread(values: Sequence[float]) -> dict[str, float]:
    t = torch.tensor(list(values), dtype=torch.float64)
    return {
        "mean": float(t.mean()),
        "std": float(t.std()) if len(values) > 1 else 0.0,
        "min": float(t.min()),
        "max": float(t.max()),
    }


def _batch_spread(
    operator: PiecewiseHessianOperator, spectrum: _Spectrum, goal: str
) -> dict[str, Any] | None:
    """How much the estimates move between batches: each batch's own gradient norm (free) and, for
    the accurate goal, each batch's Rayleigh quotient u^T H_b u along the two extreme eigenvectors
    (two more passes over the batches, counted as products)."""
    if operator.batches < 2:
        return None
    out: dict[str, Any] = {
        "batches": operator.batches,
        "gradient_norm": _spread(operator.batch_gradient_norms),
    }
    if goal == "accurate":
        for key, vector in (("lambda_max", spectrum.vector_max), ("lambda_min", spectrum.vector_min)):
            u = vector.detach().to(device=operator.device, dtype=torch.float64)
            u = u / u.norm()
            quotients = operator.per_batch_quotients(u)
            out[key] = _spread(quotients)
    return out


def _assemble(
    operator: PiecewiseHessianOperator,
    spectrum: _Spectrum,
    gradient_norm: float,
    gradient_threshold: float,
    negative_threshold: float,
    mode: str,
    samples: int,
    rule: StepRule,
) -> CurvatureMeasurement:
    radius = max(abs(spectrum.lambda_max), abs(spectrum.lambda_min))
    tau = negative_threshold * radius
    lz = spectrum.lanczos
    clearly_negative = eigenvalue_negative(spectrum.lambda_min, radius, negative_threshold).verdict == "yes"
    decided_no = lz is not None and lz.settled is not None and lz.settled.startswith("no clearly")
    # Ritz values interlace the spectrum, so a negative Ritz value is proof even before convergence;
    # a non-negative one is proof of the opposite only once converged (or settled by the decision test)
    negative = True if clearly_negative else (False if spectrum.converged or decided_no else None)
    if spectrum.eigenvalues is not None:
        shares = exact_spectrum_shares(spectrum.eigenvalues, tau)
    else:
        assert lz is not None
        shares = consistent_shares(estimated_spectrum_shares(lz, tau), negative, operator.dim)
    small = gradient_small(gradient_norm, gradient_threshold).verdict == "yes"
    return CurvatureMeasurement(
        loss=operator.loss,
        gradient_norm=gradient_norm,
        lambda_max=spectrum.lambda_max,
        lambda_min=spectrum.lambda_min,
        shares=shares,
        converged=spectrum.converged,
        method="exact" if spectrum.eigenvalues is not None else "lanczos",
        hvp_count=operator.hvp_count,
        hessian_negative=negative,
        classification=classify(small, negative),
        hw2_2_classification=minimum_ratio_classification(small, shares),
        gradient_threshold=gradient_threshold,
        negative_threshold=negative_threshold,
        mode=mode,
        samples=samples,
        parameters=operator.dim,
        skipped_parameters=list(operator.skipped),
        device=str(operator.device),
        dtype=str(operator.dtype).removeprefix("torch."),
        stability=stability_check(rule, spectrum.lambda_max, spectrum.converged_max),
        escape=None,
        lanczos=lz,
        eigenvalues=spectrum.eigenvalues,
        seconds=0.0,
        seconds_gradient=0.0,
    )


# -- escaping a saddle ------------------------------------------------------------------------------


@torch.no_grad()
def measure_escape(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    batches: Sequence[Batch],
    operator: HessianOperator | PiecewiseHessianOperator,
    direction: torch.Tensor,
    eigenvalue: float,
    distances: Sequence[float] = ESCAPE_STEPS,
    seed: int = 0,
) -> EscapeMeasurement:
    """Evaluate the loss at theta + s*t*u for s = +-1 and each distance t (u: unit eigenvector).

    The parameters are never modified: the shifted ones go through `torch.func.functional_call`.
    """
    u = direction.detach().to(device="cpu", dtype=torch.float64)
    u = u / u.norm()
    base_params = {n: p.detach() for n, p in zip(operator.names, operator.params, strict=True)}
    pieces = u.split([p.numel() for p in operator.params])
    base = float(batch_loss(model, loss_fn, batches, seed, base_params))
    slope = float(operator.gradient.double().cpu() @ u)
    steps: list[EscapeStep] = []
    for sign in (1, -1):
        for t in distances:
            shifted = {
                n: p + (sign * t * piece).view_as(p).to(device=p.device, dtype=p.dtype)
                for (n, p), piece in zip(base_params.items(), pieces, strict=True)
            }
            value = float(batch_loss(model, loss_fn, batches, seed, shifted))
            steps.append(
                EscapeStep(t, sign, value, value - base, sign * t * slope + 0.5 * eigenvalue * t * t)
            )
    # a fall smaller than float round-off of the loss is not a fall
    noise = 16 * torch.finfo(operator.dtype).eps * max(abs(base), 1e-30)
    shares = {n: float(piece.pow(2).sum()) for n, piece in zip(operator.names, pieces, strict=True)}
    top = dict(sorted(shares.items(), key=lambda kv: -kv[1])[:8])
    return EscapeMeasurement(
        eigenvalue=eigenvalue,
        slope=slope,
        base_loss=base,
        steps=steps,
        lowers_loss=min(s.change for s in steps) < -noise,
        direction=u,
        direction_by_parameter=top,
    )
