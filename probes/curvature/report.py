"""What the curvature measurement found, as numbers (`to_dict`) and as decision rules in words.

Kept apart from `probes.measure` (which computes) so that the probe, the notebook API and anything
reading a saved result share one definition of the result and of how it is explained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from probes.curvature.hessian import LanczosResult, SpectrumShares
from rules.judgements import gradient_small

Classification = Literal["not_at_critical_point", "saddle_point", "local_minimum_like", "undetermined"]


@dataclass
class EscapeStep:
    distance: float  # Euclidean length of the step in parameter space
    sign: int  # +1 or -1: which way along the eigenvector
    loss: float
    change: float  # loss - loss at the measured point
    predicted_change: float  # from the quadratic model: sign*distance*(g.u) + distance^2*lambda/2


@dataclass
class EscapeMeasurement:
    """Steps along the eigenvector of lambda_min, both ways: does the loss really fall?"""

    eigenvalue: float
    slope: float  # g . u, the first-order change per unit step (about 0 at a critical point)
    base_loss: float
    steps: list[EscapeStep]
    lowers_loss: bool
    direction: torch.Tensor  # the unit eigenvector, flat, float64 on the CPU
    direction_by_parameter: dict[str, float]  # share of |u|^2 per parameter tensor (largest first)

    @property
    def best(self) -> EscapeStep:
        return min(self.steps, key=lambda s: s.change)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "eigenvalue": self.eigenvalue,
            "slope": self.slope,
            "base_loss": self.base_loss,
            "lowers_loss": self.lowers_loss,
            "best_step": {
                "distance": best.distance,
                "sign": best.sign,
                "loss": best.loss,
                "change": best.change,
            },
            "steps": [vars(s).copy() for s in self.steps],
            "direction_preview": [float(v) for v in self.direction[:10]],
            "direction_by_parameter": self.direction_by_parameter,
        }


@dataclass
class CurvatureMeasurement:
    loss: float
    gradient_norm: float
    lambda_max: float
    lambda_min: float
    shares: SpectrumShares
    converged: bool
    method: Literal["exact", "lanczos"]
    hvp_count: int
    hessian_negative: bool | None  # None: Lanczos stopped early with no negative Ritz value yet
    classification: Classification
    hw2_2_classification: str
    gradient_threshold: float
    negative_threshold: float
    mode: str
    samples: int
    parameters: int
    skipped_parameters: list[str]
    device: str
    dtype: str
    stability: dict[str, Any]
    escape: EscapeMeasurement | None
    lanczos: LanczosResult | None
    eigenvalues: torch.Tensor | None  # the full spectrum when exact (float64, CPU)
    seconds: float
    seconds_gradient: float
    rules: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    goal: str = "accurate"  # "decide": stopped when the flowchart's question was settled
    batches: int = 1
    batch_size: int = 0
    graph: str = "retained"  # "retained" | "recomputed" (per batch, at every product)
    graph_bytes_per_batch: int = 0  # bytes autograd saved for one batch's double-backward graph
    batch_spread: dict[str, Any] | None = None
    layers: list[dict[str, Any]] | None = None  # per_layer: each layer's own Hessian block
    density: dict[str, Any] | None = None  # density: SLQ eigenvalue density, trace, negative share
    # where the products ran when not in this process alone: torch.distributed ranks or Ray actors
    distributed: dict[str, Any] | None = None

    @property
    def settled(self) -> str | None:
        """The decision test's reason when the goal stopped Lanczos early."""
        return None if self.lanczos is None else self.lanczos.settled

    @property
    def lambda_min_computed(self) -> bool:
        """False when lambda_min was not needed (not at a critical point, goal decide)."""
        return not (self.settled or "").startswith("not at a critical point")

    def bounds(self) -> dict[str, list[float | None]]:
        """Where the true extremes lie. Ritz values interlace: lambda_max >= Ritz lambda_max and
        lambda_min <= Ritz lambda_min, rigorously; the other side is the error estimate (None when the
        end was not converged: no bound is claimed)."""
        if self.method == "exact" or self.lanczos is None:
            return {
                "lambda_max": [self.lambda_max, self.lambda_max],
                "lambda_min": [self.lambda_min, self.lambda_min],
            }
        lz = self.lanczos
        top = self.lambda_max + lz.error_bound_max if lz.converged_max else None
        bottom = self.lambda_min - lz.error_bound_min if lz.converged_min else None
        return {"lambda_max": [self.lambda_max, top], "lambda_min": [bottom, self.lambda_min]}

    @property
    def minimum_ratio(self) -> float:
        return self.shares.minimum_ratio

    @property
    def zero_tolerance(self) -> float:
        return self.shares.zero_tolerance

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe numbers (what `traindoc probe curvature --json` prints)."""
        lz = self.lanczos
        return {
            "gradient_norm": self.gradient_norm,
            "loss": self.loss,
            "lambda_max": self.lambda_max,
            "lambda_min": self.lambda_min,
            "minimum_ratio": self.minimum_ratio,
            "minimum_ratio_exact": self.shares.exact,
            "spectrum": {
                "positive": self.shares.positive,
                "near_zero": self.shares.near_zero,
                "negative": self.shares.negative,
                "zero_tolerance": self.shares.zero_tolerance,
                "method": self.shares.method,
                "positive_range": list(self.shares.positive_range),
                "negative_range": list(self.shares.negative_range),
            },
            "hvp_count": self.hvp_count,
            "method": self.method,
            "converged": self.converged,
            "lanczos": None
            if lz is None
            else {
                "iterations": lz.iterations,
                "stopped_because": lz.stopped_because,
                "tolerance": lz.tolerance,
                "residual_max": lz.residual_max,
                "residual_min": lz.residual_min,
                "error_bound_max": lz.error_bound_max,
                "error_bound_min": lz.error_bound_min,
                "converged_max": lz.converged_max,
                "converged_min": lz.converged_min,
                "settled": lz.settled,
                "basis_dtype": lz.basis_dtype,
            },
            "goal": self.goal,
            "decision": self.settled,
            "lambda_min_computed": self.lambda_min_computed,
            "bounds": self.bounds(),
            "batches": self.batches,
            "batch_size": self.batch_size,
            "graph": self.graph,
            "graph_bytes_per_batch": self.graph_bytes_per_batch,
            "batch_spread": self.batch_spread,
            "layers": self.layers,
            "density": self.density,
            "distributed": self.distributed,
            "classification": self.classification,
            "hw2_2_classification": self.hw2_2_classification,
            "hessian_negative_eigenvalue": self.hessian_negative,
            "thresholds": {
                "gradient": self.gradient_threshold,
                "negative": self.negative_threshold,
                "zero_tolerance": self.zero_tolerance,
            },
            "mode": self.mode,
            "samples": self.samples,
            "parameters": self.parameters,
            "skipped_parameters": self.skipped_parameters,
            "device": self.device,
            "dtype": self.dtype,
            "learning_rate": self.stability.get("learning_rate"),
            "stability_limit": self.stability.get("limit"),
            "stability": self.stability,
            "escape": None if self.escape is None else self.escape.to_dict(),
            "eigenvalues": None
            if self.eigenvalues is None or self.eigenvalues.numel() > 64
            else [float(v) for v in self.eigenvalues],
            "seconds": self.seconds,
            "seconds_gradient": self.seconds_gradient,
        }


def minimum_ratio_classification(gradient_small: bool, shares: SpectrumShares) -> str:
    """The minimum-ratio reading (the course's HW2-2), for comparison: a critical point whose share of
    positive eigenvalues (the minimum ratio) is > 0.5 is local-minimum-like. Its result keeps the JSON
    key `hw2_2_classification` (a contract)."""
    if not gradient_small:
        return "not_at_critical_point"
    low, high = shares.positive_range
    if low > 0.5:
        return "local_minimum_like"
    return "saddle_point" if high <= 0.5 else "undetermined"


hw2_2_classification = minimum_ratio_classification  # the old name (it named a homework, not the rule)


def classify(gradient_small: bool, negative: bool | None) -> Classification:
    """The flowchart's reading: a critical point with a clearly negative eigenvalue is a saddle."""
    if not gradient_small:
        return "not_at_critical_point"
    if negative is None:
        return "undetermined"
    return "saddle_point" if negative else "local_minimum_like"


# -- the decision rules in words --------------------------------------------------------------------


def describe(m: CurvatureMeasurement, total_samples: int | None = None) -> tuple[list[str], list[str]]:
    """Each decision rule written out with its numbers, and the caveats that apply."""
    small = gradient_small(m.gradient_norm, m.gradient_threshold).verdict == "yes"
    radius = max(abs(m.lambda_max), abs(m.lambda_min))
    batches = f" ({m.batches} batches of up to {m.batch_size}, graph {m.graph})" if m.batches > 1 else ""
    rules = [
        f"gradient norm {m.gradient_norm:.3g} over {m.samples} samples{batches} in {m.mode} mode "
        f"{'<' if small else '>='} gradient_threshold {m.gradient_threshold:g} (absolute, as in HW2-2): "
        + ("counts as zero, a critical point" if small else "not zero, not a critical point"),
        _method_rule(m),
        _negative_rule(m, radius),
        _ratio_rule(m),
        _classification_rule(m),
        _stability_rule(m),
    ]
    if m.escape is not None:
        rules.append(_escape_rule(m.escape))
    if m.layers:
        rules.append(_layers_rule(m))
    if m.density:
        t, neg = m.density["trace"], m.density["negative_share"]
        rules.append(
            f"spectrum ({m.density['method']}): trace {t['estimate']:.4g} +- {t['std_error']:.2g} "
            f"(Hutchinson); share of eigenvalues below -{neg['zero_tolerance']:.3g}: estimate "
            f"{neg['estimate']:.3f}, bounded by the quadrature between {neg['range'][0]:.3f} and "
            f"{neg['range'][1]:.3f}"
        )
    return rules, _warnings(m, total_samples)


def _method_rule(m: CurvatureMeasurement) -> str:
    eig = f"lambda_max {m.lambda_max:.6g}, lambda_min {m.lambda_min:.6g}"
    if m.method == "exact":
        return (
            f"exact Hessian: {m.parameters} parameters <= exact_limit, {m.hvp_count} Hessian-vector "
            f"products (one per column), full spectrum by eigh: {eig}"
        )
    lz = m.lanczos
    assert lz is not None
    if lz.settled:
        b = m.bounds()
        top = "?" if b["lambda_max"][1] is None else f"{b['lambda_max'][1]:.6g}"
        low = "" if b["lambda_min"][0] is None else f"{b['lambda_min'][0]:.6g} <= "
        if not m.lambda_min_computed:
            low_text = f"lambda_min <= {m.lambda_min:.6g} (Ritz value; not needed, not computed further)"
        else:
            low_text = f"{low}lambda_min <= {m.lambda_min:.6g}"
        return (
            f"Lanczos with full reorthogonalization on {m.parameters} parameters, goal decide: stopped "
            f"after {lz.iterations} Hessian-vector products because {lz.settled}; bounds "
            f"{m.lambda_max:.6g} <= lambda_max <= {top} (tolerance {lz.tolerance:g}), {low_text}"
        )
    state = "converged" if lz.converged else "NOT converged"
    return (
        f"Lanczos with full reorthogonalization on {m.parameters} parameters: {lz.iterations} "
        f"Hessian-vector products, {state} (relative tolerance {lz.tolerance:g}, estimated errors "
        f"{lz.error_bound_max:.2g} and {lz.error_bound_min:.2g}): {eig}"
    )


def _layers_rule(m: CurvatureMeasurement) -> str:
    """Which layer is sharpest and where negative curvature lives, by the whole Hessian's own test
    (lambda_min below -zero_tolerance): a block whose lambda_min is a tiny positive number has none,
    and the whole model's negative curvature may lie only in the coupling between layers (a 10M-
    parameter text model: every block >= 0, the whole Hessian -0.0075; by Cauchy interlacing a
    block's lambda_min is never below the whole Hessian's)."""
    layers = m.layers or []
    sharp = max(layers, key=lambda layer: layer["lambda_max"])
    text = (
        f"per layer (each layer's own Hessian block, {len(layers)} layers): sharpest {sharp['name']} "
        f"(lambda_max {sharp['lambda_max']:.4g}), "
    )
    negative = [layer for layer in layers if layer["lambda_min"] < -m.zero_tolerance]
    if negative:
        low = min(negative, key=lambda layer: layer["lambda_min"])
        text += f"most negative curvature in {low['name']} (lambda_min {low['lambda_min']:.4g})"
    else:
        text += "no layer's own block has a clearly negative eigenvalue"
        if m.hessian_negative:
            text += (
                f"; the whole Hessian's (lambda_min {m.lambda_min:.4g}) lies in the coupling between layers"
            )
    unconverged = [layer["name"] for layer in layers if not layer["converged"]]
    if unconverged:
        text += f"; not converged within the budget: {', '.join(unconverged)}"
    return text


def _negative_rule(m: CurvatureMeasurement, radius: float) -> str:
    clear = m.lambda_min < -m.zero_tolerance
    if not m.lambda_min_computed and m.hessian_negative is None:
        return (
            f"lambda_min <= {m.lambda_min:.4g} (a Ritz value: an upper bound) was not computed further: "
            "not at a critical point, so the sign of the curvature decides nothing"
        )
    verdict = {
        True: "a clearly negative eigenvalue",
        False: "no clearly negative eigenvalue",
        None: "no clearly negative Ritz value yet, and Lanczos did not converge: undecided",
    }[m.hessian_negative]
    return (
        f"lambda_min {m.lambda_min:.4g} {'<' if clear else '>='} -negative_threshold "
        f"{m.negative_threshold:g} x spectral radius {radius:.4g} = {-m.zero_tolerance:.3g}: {verdict}"
    )


def _ratio_rule(m: CurvatureMeasurement) -> str:
    sh = m.shares
    text = (
        f"minimum ratio {m.minimum_ratio:.3f} ({sh.method}) = share of eigenvalues above "
        f"+{m.zero_tolerance:.3g} (negative_threshold x spectral radius); near zero {sh.near_zero:.3f}, "
        f"clearly negative {sh.negative:.3f}"
    )
    if not sh.exact:
        low, high = sh.positive_range
        text += f"; the quadrature only bounds the ratio between {low:.3f} and {high:.3f}"
    return text


def _classification_rule(m: CurvatureMeasurement) -> str:
    reason = {
        "not_at_critical_point": "the gradient is not small, so the Hessian's signs do not decide anything",
        "saddle_point": "small gradient and a clearly negative eigenvalue: the loss falls along its eigenvector",
        "local_minimum_like": "small gradient and no clearly negative eigenvalue: the loss curves up "
        "(or is flat) in every direction",
        "undetermined": "small gradient, but the sign of lambda_min is not settled",
    }[m.classification]
    text = f"classification {m.classification}: {reason}"
    hw = m.hw2_2_classification
    if hw == "undetermined" and m.classification != "not_at_critical_point":
        text += "; HW2-2's rule (minimum ratio > 0.5 is local-minimum-like) cannot be applied: the ratio's range straddles 0.5"
    elif hw != m.classification and m.classification != "undetermined":
        text += (
            f"; HW2-2's rule (gradient small and minimum ratio > 0.5 is local-minimum-like) would say "
            f"{hw}: the flowchart's test is the sign of lambda_min"
        )
    return text


def _stability_rule(m: CurvatureMeasurement) -> str:
    s = m.stability
    lr, limit = s["learning_rate"], s["limit"]
    if lr is None:
        return "learning rate unknown: the stability check (learning rate vs 2 / lambda_max) was skipped"
    if limit is None:
        return f"learning rate {lr:g}: no direction curves up (lambda_max <= 0), so no step overshoots"
    if not s["applies"]:
        name = s["optimizer"] or "an unknown optimizer"
        return (
            f"learning rate {lr:g} vs 2 / lambda_max = {limit:.3g}: the limit holds for (momentum) SGD; "
            f"{name} rescales each coordinate, so the comparison is shown but not decided"
        )
    verdict = {
        True: "exceeds it: unstable along the sharpest direction",
        False: "within it",
        None: "undecided",
    }
    return (
        f"learning rate {lr:g} vs stability limit {s['formula']} = {limit:.3g} for SGD "
        f"(momentum {s['momentum']:g}{', Nesterov' if s['nesterov'] else ''}, weight decay "
        f"{s['weight_decay']:g}; full-batch Hessian): {verdict[s['exceeds']]}"
    )


def _escape_rule(e: EscapeMeasurement) -> str:
    best = e.best
    sign = "+" if best.sign > 0 else "-"
    if e.lowers_loss:
        return (
            f"escape: a step of {best.distance:g} along {sign}u (u the unit eigenvector of lambda_min "
            f"{e.eigenvalue:.4g}) changes the loss by {best.change:.4g} ({e.base_loss:.6g} -> "
            f"{best.loss:.6g}; the quadratic model predicted {best.predicted_change:.4g})"
        )
    return (
        f"escape: no step of {', '.join(f'{d:g}' for d in sorted({s.distance for s in e.steps}))} along "
        f"+-u (u the eigenvector of lambda_min {e.eigenvalue:.4g}) lowered the loss below "
        f"{e.base_loss:.6g} (best change {best.change:.3g}): higher-order terms dominate at these distances"
    )


def _warnings(m: CurvatureMeasurement, total_samples: int | None) -> list[str]:
    out = []
    if total_samples is not None and m.samples < total_samples:
        out.append(f"measured on the first {m.samples} of {total_samples} training samples (option samples)")
    if m.mode == "train":
        out.append(
            "train mode: dropout masks are held fixed during the measurement and batch norm "
            "normalizes with each batch's statistics"
        )
    if not m.converged and not m.settled:
        out.append(f"Lanczos did not converge in {m.hvp_count} Hessian-vector products: raise max_hvp")
    if not m.shares.exact:
        out.append(
            f"the minimum ratio is an estimate ({m.shares.method}); exact only up to exact_limit parameters"
        )
    if m.skipped_parameters:
        shown = ", ".join(m.skipped_parameters[:5])
        out.append(
            f"{len(m.skipped_parameters)} parameter tensors do not affect the loss and were skipped: {shown}"
        )
    return out
