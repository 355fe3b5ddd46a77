"""What each probe's `ProbeOutcome.data` holds, typed: one pydantic model per probe.

The probes build their result as plain JSON (the keys scripts read from `traindoc probe NAME --json`,
`traindoc history --json`, the API's outcomes and a report's evidence); these models are the one
declaration of those keys. `ProbeOutcome` validates its `data` through the probe's model when it is
built (a probe that writes a wrong type fails in the tests, not in a user's script), and
`ProbeOutcome.result` hands readers (the TUI, the CLI's text output) the typed object.

Contract: keys are only ever added. Every model allows extra keys, so a newer probe's addition reaches
an older reader unchanged, and the JSON a model dumps is the JSON the probe wrote. `traindoc schema
--kind probes` prints the JSON Schema of all of them.

Only pydantic is imported here (no torch): the CLI's `schema` command and the TUI read these models
without loading a probe. Every model defers building its validator until it is first used, so importing
this module costs almost nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from probes.remedies.result import RemedyReport


class _Result(BaseModel):
    # extra="allow": a key a probe adds later passes through untouched (the JSON contract only grows);
    # defer_build: the validator is built when a probe's outcome is first validated, not at import
    model_config = ConfigDict(extra="allow", defer_build=True)


# -- baselines ------------------------------------------------------------------------------------------


class ReferenceModel(_Result):
    """The easy model fitted as a yardstick (least squares / logistic regression)."""

    kind: str
    loss: float | None = None
    samples: int | None = None
    features: int | None = None
    seconds: float | None = None
    skipped: str | None = Field(None, description="why no reference was fitted")


class HeldOutLoss(_Result):
    loss: float | None = None
    trivial_loss: float | None = None
    fraction_of_trivial: float | None = None
    error: str | None = Field(None, description="why this split's loss was not computed")


class BaselinesResult(_Result):
    """`traindoc probe baselines`: the training loss against trivial predictors and an easy model."""

    task: Literal["classification", "regression"] | str
    num_classes: int | None = None
    samples: int
    train_loss: float | None
    trivial_loss: float | None
    trivial: dict[str, float | None] = Field(description="loss of each trivial predictor, by name")
    reference: ReferenceModel
    target_loss: float | None = None
    constant: list[float | None] | None = Field(None, description="the best constant prediction")
    fraction_of_trivial: float | None
    held_out: dict[str, HeldOutLoss] = Field(default_factory=dict, description="validation / test")


# -- depth ----------------------------------------------------------------------------------------------


class DepthRung(_Result):
    """One depth of the ladder, trained with several seeds."""

    depth: int
    seeds: list[int] = Field(default_factory=list)
    losses: list[float | None] = Field(
        default_factory=list, description="final loss of each seed that trained"
    )
    diverged: list[int] = Field(default_factory=list, description="seeds whose training blew up")
    seconds: float = 0.0
    parameters: int | None = None
    failed: str | None = None
    shapes: list[list[int]] | None = None
    mean: float | None = None
    spread: float | None = None


class DepthComparison(_Result):
    worse: int
    better: int
    difference: float | None
    noise_margin: float | None
    floor: float | None
    verdict: bool
    sureness: str
    margin: float | None = None


class DepthResult(_Result):
    """`traindoc probe depth`: the depth ladder (is a deeper model worse on the training data?)."""

    ladder: list[DepthRung]
    table: list[str] = Field(description="the ladder as 'a | b | c' text rows")
    user_depth: int | None = None
    seeds: int
    noise: dict[str, Any] = Field(default_factory=dict)
    comparison: DepthComparison | None = None
    reference: dict[str, Any] | None = None
    trivial_loss: float | None = None
    deeper_worse_pairs: list[Any] = Field(default_factory=list)
    trainings: int = 0
    executor: dict[str, Any] | None = Field(
        None, description="where the trainings ran: kind, address, workers"
    )


# -- curvature ------------------------------------------------------------------------------------------


class SpectrumShares(_Result):
    positive: float | None = None
    near_zero: float | None = None
    negative: float | None = None
    zero_tolerance: float | None = None
    method: str | None = None
    positive_range: list[float | None] = Field(default_factory=list)
    negative_range: list[float | None] = Field(default_factory=list)


class LanczosSummary(_Result):
    iterations: int
    stopped_because: str | None = None
    tolerance: float | None = None
    residual_max: float | None = None
    residual_min: float | None = None
    error_bound_max: float | None = None
    error_bound_min: float | None = None
    converged_max: bool | None = None
    converged_min: bool | None = None
    settled: str | None = None
    basis_dtype: str | None = None


class EscapeStep(_Result):
    distance: float | None = None
    sign: int | None = None
    loss: float | None = None
    change: float | None = None
    predicted_change: float | None = None


class Escape(_Result):
    """Steps along the eigenvector of lambda_min: does the loss really fall (a saddle's way out)?"""

    eigenvalue: float | None = None
    slope: float | None = None
    base_loss: float | None = None
    lowers_loss: bool
    best_step: EscapeStep | None = None
    steps: list[EscapeStep] = Field(default_factory=list)
    direction_preview: list[float | None] = Field(default_factory=list)
    direction_by_parameter: dict[str, float | None] = Field(default_factory=dict)


class CurvatureThresholds(_Result):
    gradient: float | None = None
    negative: float | None = None
    zero_tolerance: float | None = None


class CurvatureResult(_Result):
    """`traindoc probe curvature`: gradient norm and Hessian extremes at the trained point, with the
    saddle / local minimum / not-critical classification. `layers` is filled with --per-layer,
    `density` with --density; `decision` says why Lanczos stopped when the goal was `decide`."""

    gradient_norm: float | None
    loss: float | None
    lambda_max: float | None
    lambda_min: float | None
    minimum_ratio: float | None = None
    minimum_ratio_exact: bool | None = None
    spectrum: SpectrumShares | None = None
    hvp_count: int
    method: Literal["exact", "lanczos"] | str
    converged: bool
    lanczos: LanczosSummary | None = None
    goal: str | None = None
    decision: str | None = None
    lambda_min_computed: bool | None = None
    bounds: dict[str, list[float | None]] = Field(default_factory=dict)
    batches: int | None = None
    batch_size: int | None = None
    graph: str | None = None
    graph_bytes_per_batch: int | None = None
    batch_spread: dict[str, Any] | None = None
    layers: list[dict[str, Any]] | None = Field(None, description="each layer's own Hessian block")
    density: dict[str, Any] | None = Field(None, description="SLQ eigenvalue density, trace, negative share")
    classification: Literal["not_at_critical_point", "saddle_point", "local_minimum_like", "undetermined"]
    hw2_2_classification: str | None = None
    hessian_negative_eigenvalue: bool | None = None
    thresholds: CurvatureThresholds | None = None
    mode: str | None = None
    samples: int | None = None
    parameters: int | None = None
    skipped_parameters: list[str] = Field(default_factory=list)
    device: str | None = None
    dtype: str | None = None
    learning_rate: float | None = None
    stability_limit: float | None = None
    stability: dict[str, Any] = Field(default_factory=dict)
    escape: Escape | None = None
    eigenvalues: list[float | None] | None = None
    depth: int | None = None
    seed: int | None = None
    trained_loss: float | None = None
    training_seconds: float | None = None


# -- generalization -------------------------------------------------------------------------------------


class SplitLoss(_Result):
    name: str
    loss: float | None
    se: float | None = Field(None, description="standard error of `loss` from the spread of chunk means")
    samples: int
    trivial: float | None = None
    source: str | None = Field(None, description="validation only: where the split came from")


class GeneralizationResult(_Result):
    """`traindoc probe generalization`: training, validation and test losses, and a train-vs-test
    two-sample test of the inputs (mismatch)."""

    splits: dict[str, SplitLoss] = Field(description="training, validation, test")
    two_sample: dict[str, Any] | None = Field(None, description="auc, threshold, shifted; or skipped")
    trainings: int = 0
    executor: dict[str, Any] | None = Field(
        None, description="where the trainings ran: kind, address, workers"
    )


# -- learning rate --------------------------------------------------------------------------------------


class StepRuleResult(_Result):
    optimizer: str | None = None
    learning_rate: float | None = None
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: list[float] | None = None
    eps: float | None = None
    alpha: float | None = None


class PointSharpness(_Result):
    where: str = Field(description="initialization, last sane point, end of training")
    step: int
    loss: float | None = None
    lambda_max: float | None = None
    converged: bool
    preconditioned: float | None = None
    preconditioned_converged: bool | None = None
    threshold: float | None = None
    largest_stable_rate: float | None = None
    exceeds: bool | None = None
    note: str = ""


class RunShape(_Result):
    diverged: bool
    spiked: bool
    plateaued: bool
    reasons: list[str] = Field(default_factory=list)


class LearningRateResult(_Result):
    """`traindoc probe learning_rate`: the sharpness along the user's run against the optimizer's
    stability threshold (2/eta for SGD, 2(1+beta)/eta with momentum, 38/eta for Adam's P^-1 H)."""

    optimizer: StepRuleResult
    points: list[PointSharpness]
    largest_stable_rate: float | None = None
    suggested_rate: float | None = None
    run: RunShape
    trouble_step: int | None = None
    steps_recorded: int
    samples: int


# -- history --------------------------------------------------------------------------------------------


class HistorySeries(_Result):
    name: str
    role: str | None = None
    split: str | None = None
    eval_set: str | None = None
    points: int


class HistoryCurve(_Result):
    """One plotted curve (downsampled): what the TUI and `--plot` draw."""

    name: str
    steps: list[float | None]
    values: list[float | None]
    x: str | None = None


class Need(BaseModel):
    """A fact the history does not hold that would settle a question (the TUI asks for it)."""

    question: str = Field(description="the flowchart question it would settle, e.g. train_loss_large")
    fact: Literal["classes", "baseline"]
    options: list[str] = Field(description="CLI options that give it: --classes C, --baseline LOSS")
    why: str


class HistoryResult(_Result):
    """`traindoc history FILE`: what a training history's curves say. `analysis` is the reader's full
    analysis (train/held-out levels, divergence, noise, learning-rate check); `needs` the facts the
    history does not hold that would settle a question."""

    source: str
    format: str
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="the reader's warnings about the file")
    total_steps: float | None = None
    config: dict[str, Any] | None = None
    group: str | None = None
    groups: list[str | None] = Field(default_factory=list)
    series: list[HistorySeries] = Field(default_factory=list)
    analysis: dict[str, Any] = Field(default_factory=dict)
    curves: list[HistoryCurve] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)


# -- remedies -------------------------------------------------------------------------------------------

RemediesResult = RemedyReport  # one home: the remedies' report model is already typed


RESULTS: dict[str, type[BaseModel]] = {
    "baselines": BaselinesResult,
    "depth": DepthResult,
    "curvature": CurvatureResult,
    "generalization": GeneralizationResult,
    "learning_rate": LearningRateResult,
    "history": HistoryResult,
    "remedies": RemediesResult,
}
"""The result model of each probe, by the probe's name (ProbeOutcome.probe)."""


def result_model(probe: str) -> type[BaseModel] | None:
    """The model of `probe`'s data, or None for an outcome with no declared shape (e.g. a remedy trial)."""
    return RESULTS.get(probe)


def results_schema() -> dict[str, Any]:
    """One JSON Schema document: each probe's result under `properties`, shared parts under `$defs`."""
    from pydantic.json_schema import models_json_schema

    keyed, defs = models_json_schema(
        [(m, "validation") for m in RESULTS.values()], title="traindoc probe results"
    )
    props = {name: keyed[(model, "validation")] for name, model in RESULTS.items()}
    return {
        "title": "traindoc probe results",
        "description": "ProbeOutcome.data of each probe, by probe name (the `data` object of "
        "`traindoc probe NAME --json` and `traindoc history --json`)",
        "type": "object",
        "properties": props,
        **defs,
    }


def outcome_json(outcome: Any) -> dict[str, Any]:
    """The one JSON object of a ProbeOutcome, printed by `traindoc probe NAME --json` and
    `traindoc history --json` alike.

    It is the outcome itself (probe, answers, summary, rules, data, warnings, seconds: what the API and
    a report's evidence carry) with `data`'s keys ALSO at the top level, where `probe --json` has always
    printed them (kept for the scripts reading them). Where a data key shares a name with an outcome
    field (history's and remedies' `warnings`, remedies' `seconds` and `rules`), the top level holds the
    outcome's and `data` the probe's, as both commands printed before.
    """
    whole = outcome.model_dump(mode="json")
    return {**{k: v for k, v in whole["data"].items() if k not in whole}, **whole}
