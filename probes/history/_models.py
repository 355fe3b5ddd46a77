"""The shapes of a training history and of what the analysis concludes from it.

Pydantic models, so the CLI's JSON, the API, the TUI and the plots share one schema. Values are plain
floats; NaN and infinity are kept in memory (they are evidence of divergence) and written to JSON as
null, which is why the validators accept None back as NaN.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Split = Literal["train", "val", "test"]
Role = Literal["loss", "metric", "grad_norm", "learning_rate"]
Axis = Literal["step", "epoch", "index"]


def _nan_for_none(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


class Series(BaseModel):
    """One curve of a history, as the file names it, with what it measures."""

    name: str = Field(description="the name in the source: 'eval_loss', 'val_loss', 'train/loss'")
    role: Role
    split: Split = Field(description="the data it is measured on")
    eval_set: str | None = Field(None, description="named evaluation set (HF eval dicts, TB subfolders)")
    x: Axis = Field(description="what `steps` counts")
    steps: list[float]
    values: list[float] = Field(description="NaN/inf kept; null in JSON")
    epochs: list[float] | None = Field(None, description="epoch of each point where the source gives it")
    higher_is_better: bool | None = Field(None, description="for metrics: accuracy yes, WER no")

    @field_validator("values", "epochs", mode="before")
    @classmethod
    def _none_is_nan(cls, v: object) -> object:
        return _nan_for_none(v) if isinstance(v, list) else v


class History(BaseModel):
    """Every curve read from one source (a file, a run directory or an MLflow run)."""

    source: str
    format: str = Field(
        description="hf_trainer_state, lightning_csv, keras_csv, csv, json, tfevents, mlflow, text_log"
    )
    series: list[Series]
    total_steps: float | None = Field(None, description="the planned length of the run (HF max_steps)")
    notes: list[str] = Field(default_factory=list, description="how the source was read")
    warnings: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="hyperparameters found with the log (HF config.json, hparams.yaml, W&B config)",
    )
    config_source: str | None = Field(None, description="where `config` was read")
    group: str | None = Field(
        None, description="the model prefix analysed when the file logs several (cls_, reg_)"
    )
    groups: list[str] = Field(default_factory=list, description="every model prefix with a training loss")

    def losses(self, split: Split) -> list[Series]:
        return [s for s in self.series if s.role == "loss" and s.split == split]


# -- analysis -------------------------------------------------------------------------------------


class Baseline(BaseModel):
    """What a trivial predictor scores: the yardstick for 'is the loss large?'."""

    value: float | None = Field(
        None, description="loss of the trivial predictor (ln C, class-prior entropy, user's)"
    )
    floor: float = Field(0.0, description="lowest reachable loss (label smoothing); 0 otherwise")
    kind: Literal["uniform", "class_priors", "user", "none"] = "none"
    classes: int | None = None
    source: Literal["user", "file", "detected", "none"] = Field(
        "none",
        description="user: an option; file: the run's config; detected: first loss = ln C with accuracy at 1/C",
    )
    explanation: str = ""


class CurveSummary(BaseModel):
    name: str
    split: Split
    eval_set: str | None = None
    points: int
    first: float | None
    first_step: float | None
    last: float | None
    last_step: float | None
    final_level: float | None = Field(
        None, description="median of the finite points in the last 10% of the run"
    )
    lowest: float | None
    lowest_step: float | None
    nonfinite: int = 0
    first_nonfinite_step: float | None = None


class Divergence(BaseModel):
    status: Literal["diverged", "stable", "unknown"]
    kind: Literal["nan", "hidden_nan", "inf", "blowup"] | None = None
    step: float | None = None
    nonfinite_points: int = 0
    hidden_nan_points: int = 0
    recovered: bool = False
    explanation: str = ""


class Trend(BaseModel):
    status: Literal["still_falling", "plateau", "flat", "rising", "too_short"]
    since_step: float | None = None
    last_quarter_change: float | None = Field(
        None, description="relative fall over the last quarter of the run"
    )
    explanation: str = ""


class Spike(BaseModel):
    step: float
    value: float
    local_level: float


class Noise(BaseModel):
    name: str
    noise: float = Field(description="robust standard deviation around the local median")
    relative_to_scale: float
    relative_to_level: float | None
    spikes: list[Spike] = Field(default_factory=list)
    oscillating: bool = False
    explanation: str = ""


class EarlyStopping(BaseModel):
    patience: int
    stop_step: float | None = None
    stop_epoch: float | None = None
    restore_step: float | None = None
    restore_epoch: float | None = None
    gl_alpha: float
    gl_stop_step: float | None = None
    gl_stop_epoch: float | None = None


class MetricCheck(BaseModel):
    metric: str
    at_best_loss: float
    final: float
    error_reduction: float = Field(
        description="relative fall of the error (1-accuracy, or the metric itself) since the best-loss point"
    )
    verdict: Literal["overconfidence", "metric_flat", "metric_worse"]
    explanation: str


class HeldOutCheck(BaseModel):
    """A validation or test curve against the training curve."""

    name: str
    split: Split
    eval_set: str | None = None
    points: int
    best_value: float | None = None
    best_step: float | None = None
    best_epoch: float | None = None
    final_value: float | None = None
    final_step: float | None = None
    final_epoch: float | None = None
    train_level_final: float | None = None
    gap_final: float | None = None
    gap_ratio: float | None = None
    gap_first: float | None = None
    gap_trend: Literal["widening", "narrowing", "stable"] | None = None
    generalization_loss: float | None = Field(None, description="Prechelt's GL at the end, in %")
    max_generalization_loss: float | None = None
    overfitting_onset_step: float | None = None
    overfitting_onset_epoch: float | None = None
    early_stopping: EarlyStopping | None = None
    metric_check: MetricCheck | None = None
    nonfinite: int = 0


# the typed result models (probes/results.py) declare it: one home, importable without numpy
from probes.results import Need  # noqa: E402


class LearningRateCheck(BaseModel):
    """The logged learning rate against the training loss: did the loss rise while the LR was high?"""

    name: str
    peak: float
    peak_step: float
    warmup_end_step: float | None = Field(None, description="where the LR stopped rising (warm-up end)")
    rise_start_step: float | None = None
    rise_end_step: float | None = None
    loss_before: float | None = None
    loss_peak: float | None = None
    lr_at_rise: float | None = None
    recovered_below: float | None = Field(None, description="the loss fell back after the LR dropped")
    exceeds: bool = False
    explanation: str = ""


class HistoryAnalysis(BaseModel):
    baseline: Baseline
    scale: float = Field(
        description="the loss scale rules are relative to: baseline, else the first logged loss"
    )
    train: CurveSummary | None = None
    train_trend: Trend | None = None
    divergence: Divergence
    noise: list[Noise] = Field(default_factory=list)
    held_out: list[HeldOutCheck] = Field(default_factory=list)
    observations: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list, description="facts that would settle open questions")
    learning_rate: LearningRateCheck | None = None
