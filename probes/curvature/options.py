"""The curvature measurement's options, declared once (issue 13).

`CurvatureOptions` is what the probe (`curvature_probe`), the notebook API (`measure_curvature`), the
registry (hence the CLI's `traindoc probe curvature --flags`), the service's option bounds and the
benchmarks read. Each field's metadata says how a front end offers it: `help` (the CLI's words; a
field without it is Python-only), `cli_type`, `choices`, `words` accepted besides a number,
`explicit_default` (what `traindoc probe curvature` uses when it differs from the diagnosis's),
`shown_default` (how --help states a default that depends on another option) and `bounds` (what a
service client may ask for, inclusive).

No torch and no pydantic here: the CLI's parser reads this module at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from probes.executor_options import check_executor
from rules.judgements import GRADIENT_ZERO, NEGATIVE_FRACTION

GOALS = ("decide", "accurate")
MODES = ("eval", "train")
GRAPH_MODES = ("auto", "retain", "recompute")


@dataclass(frozen=True)
class GoalDefaults:
    """What each goal spends: `accurate` (the explicit measurement) converges both ends to 1e-3;
    `decide` (inside the diagnosis) stops as soon as the flowchart's question is answered."""

    tolerance: float
    max_hvp: int
    exact_limit: int


GOAL_DEFAULTS = {
    "accurate": GoalDefaults(tolerance=1e-3, max_hvp=200, exact_limit=2000),
    # the exact Hessian costs one product per parameter: only where that is under ~20 products
    "decide": GoalDefaults(tolerance=1e-3, max_hvp=60, exact_limit=20),
}


def _opt(default: Any, help: str | None = None, **meta: Any) -> Any:
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class CurvatureOptions:
    """Every option of the curvature measurement, with the diagnosis's defaults (goal `decide`).

    `max_hvp`, `exact_limit` and `tolerance` left at None take the goal's defaults (`resolved()`).
    """

    samples: int | str | None = _opt(
        2048,
        "training samples used for the gradient and the Hessian, or 'all'",
        cli_type=int,
        words=("all",),
        bounds=(1, 65_536),
    )
    batch_size: int | None = _opt(
        None,
        "samples per batch: memory follows one batch's double-backward graph",
        cli_type=int,
        shown_default="256 in eval mode, the setup's batch size in train mode",
    )
    goal: str = _opt(
        "decide",
        "decide: stop when saddle vs minimum is settled (the diagnosis); accurate: both extreme "
        "eigenvalues to the tolerance",
        cli_type=str,
        choices=GOALS,
        explicit_default="accurate",
    )
    graph: str = _opt(
        "auto",
        "keep every batch's graph (retain), rebuild one batch at a time (recompute), or choose by the "
        "measured graph size (auto)",
        cli_type=str,
        choices=GRAPH_MODES,
    )
    per_layer: bool = _opt(False, "add each layer's own lambda_max and lambda_min (layers)", cli_type=bool)
    density: bool = _opt(
        False,
        "add the eigenvalue density, the Hessian trace and the estimated negative share",
        cli_type=bool,
    )
    mode: str = _opt("eval", "model mode for the measurement", cli_type=str, choices=("train", "eval"))
    gradient_threshold: float = _opt(
        GRADIENT_ZERO, "gradient norm below this counts as zero", cli_type=float, bounds=(1e-12, 1e3)
    )
    negative_threshold: float = _opt(
        NEGATIVE_FRACTION,
        "lambda_min below -this*|lambda_max| is clearly negative",
        cli_type=float,
        bounds=(1e-12, 1.0),
    )
    max_hvp: int | None = _opt(
        None,
        "Hessian-vector products Lanczos may spend",
        cli_type=int,
        shown_default="200 (accurate), 60 (decide)",
        bounds=(1, 1000),
    )
    exact_limit: int | None = _opt(
        None,
        "use the exact Hessian up to this many parameters",
        cli_type=int,
        shown_default="2000 (accurate), 20 (decide)",
        bounds=(0, 5000),
    )
    tolerance: float | None = _opt(
        None,
        "Lanczos relative tolerance on its error estimate",
        cli_type=float,
        shown_default="1e-3",
        bounds=(1e-12, 0.5),
    )
    distributed: bool = _opt(
        False,
        "under torchrun: share the batches among the processes (torch.distributed, gloo or nccl); "
        "rank 0 prints",
        cli_type=bool,
    )
    executor: str = _opt(
        "local",
        "where the Hessian-vector products run: local (this process), ray (a local Ray) or "
        "ray://HOST:PORT (a Ray cluster)",
        cli_type=str,
    )
    workers: int | None = _opt(
        None,
        "Ray tasks sharing the batches (one Ray actor each)",
        cli_type=int,
        shown_default="Ray's CPU count, at most the number of batches",
        bounds=(1, 256),
    )
    # Python only (no help: not offered on the command line or the service)
    density_vectors: int = _opt(4)

    def resolved(self) -> CurvatureOptions:
        """The goal's defaults filled in for max_hvp, exact_limit and tolerance."""
        defaults = GOAL_DEFAULTS.get(self.goal, GOAL_DEFAULTS["accurate"])
        return dataclasses.replace(
            self,
            max_hvp=defaults.max_hvp if self.max_hvp is None else self.max_hvp,
            exact_limit=defaults.exact_limit if self.exact_limit is None else self.exact_limit,
            tolerance=defaults.tolerance if self.tolerance is None else self.tolerance,
        )

    def validate(self) -> CurvatureOptions:
        """One-line ProbeErrors naming the option for impossible values, before anything expensive
        runs; returns the resolved options."""
        from probes.base import ProbeError  # pydantic: not at the CLI parser's import time

        if self.goal not in GOALS:
            raise ProbeError(f"goal must be one of {', '.join(GOALS)} (got {self.goal!r})", field="goal")
        if self.mode not in MODES:
            raise ProbeError(f"mode must be 'train' or 'eval' (got {self.mode!r})", field="mode")
        if self.graph not in GRAPH_MODES:
            raise ProbeError(
                f"graph must be one of {', '.join(GRAPH_MODES)} (got {self.graph!r})", field="graph"
            )
        parse_samples(self.samples)
        # the one check of --executor and --workers, shared with the trainings' (probes/trainings.py)
        check_executor(self.executor, self.workers)
        if self.distributed and self.executor != "local":
            raise ProbeError(
                "distributed and a Ray executor exclude each other: choose one", field="executor"
            )
        r = self.resolved()
        assert r.max_hvp is not None and r.exact_limit is not None and r.tolerance is not None
        for name, value in (
            ("gradient_threshold", r.gradient_threshold),
            ("negative_threshold", r.negative_threshold),
            ("tolerance", r.tolerance),
        ):
            if not value > 0:
                raise ProbeError(f"{name} must be positive (got {value})", field=name)
        if r.max_hvp < 2:
            raise ProbeError(f"max_hvp must be at least 2 (got {r.max_hvp})", field="max_hvp")
        if r.exact_limit < 0:
            raise ProbeError(f"exact_limit must be 0 or more (got {r.exact_limit})", field="exact_limit")
        if r.batch_size is not None and r.batch_size <= 0:
            raise ProbeError(f"batch_size must be positive (got {r.batch_size})", field="batch_size")
        if r.density_vectors < 2:
            raise ProbeError(
                f"density_vectors must be at least 2 (got {r.density_vectors})", field="density_vectors"
            )
        return r

    @classmethod
    def of(cls, base: CurvatureOptions | None = None, **given: Any) -> CurvatureOptions:
        """`base` (or the defaults) with the keyword options a caller gave; an unknown name is a
        ProbeError naming it, not a TypeError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            from probes.base import ProbeError

            raise ProbeError(
                f"the curvature measurement has no option {unknown[0]!r} (options: {', '.join(sorted(known))})",
                field=unknown[0],
            )
        return dataclasses.replace(base or cls(), **given)


def parse_samples(value: int | str | None) -> int | None:
    """`samples` as given by a user: a positive count, or "all" (None: all too)."""
    from probes.base import ProbeError

    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ProbeError(
            f"samples must be a positive number or 'all' (got {value!r})", field="samples"
        ) from None
    if count <= 0:
        raise ProbeError(f"samples must be positive (got {count})", field="samples")
    return count


def front_end_options() -> list[dataclasses.Field[Any]]:
    """The fields offered on the command line and the service (those with `help`), in order."""
    return [f for f in dataclasses.fields(CurvatureOptions) if f.metadata.get("help")]


def service_bounds() -> dict[str, tuple[float, float]]:
    """Inclusive bounds on what a service client may ask for, by option name."""
    return {
        f.name: f.metadata["bounds"] for f in dataclasses.fields(CurvatureOptions) if "bounds" in f.metadata
    }
