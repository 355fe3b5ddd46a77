"""What trying the remedies found: one typed result shared by the CLI's JSON, the API and the exports.

Plain pydantic, no torch: the CLI and the service import it without paying for torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Metric = Literal["train", "val", "test"]
Status = Literal["helps", "no_change", "hurts", "diverged", "not_tried", "skipped"]


class Losses(BaseModel):
    """Losses of one model on the three splits (None where the split is absent)."""

    train: float | None = None
    val: float | None = None
    test: float | None = None

    def get(self, metric: Metric) -> float | None:
        return getattr(self, metric)


class CurvePoint(BaseModel):
    step: int
    train: float | None = None  # the minibatch training loss at this step
    val: float | None = None  # the held-out loss (the judged metric's split) at this step


class RemedyResult(BaseModel):
    """One remedy tried on the user's setup: the same training with one thing changed."""

    id: str = Field(description="the remedy kind, a public id (e.g. momentum, adam, early_stopping)")
    title: str
    setting: str = Field("", description="what was changed, with its value (e.g. 'lr 0.01 -> 0.0012')")
    findings: list[str] = Field(default_factory=list, description="the findings this remedy addresses")
    status: Status
    before: Losses = Field(default_factory=Losses)
    after: Losses = Field(default_factory=Losses)
    change: float | None = Field(None, description="after - before on the judged metric (negative: better)")
    relative_change: float | None = None
    margin: float | None = Field(None, description="changes smaller than this are seed noise")
    seconds: float = 0.0
    cost_runs: float = Field(0.0, description="training cost in units of one training run of the setup")
    note: str = ""
    curve: list[CurvePoint] = Field(default_factory=list, description="the trial's learning curve")
    data: dict[str, float | int | str | None | list[float]] = Field(default_factory=dict)


class RemedyReport(BaseModel):
    """Every remedy tried for the findings, the baseline it is compared with, and the verdict."""

    setup: str
    findings: list[str]
    metric: Metric = Field(description="the loss the remedies are judged on")
    baseline: Losses
    baseline_seconds: float
    noise: dict[str, float | list[float] | str] = Field(
        default_factory=dict, description="how the noise margin was measured (seeds and losses)"
    )
    baseline_curve: list[CurvePoint] = Field(default_factory=list)
    baseline_curve_seed: int | None = Field(
        None, description="the seed of the run `baseline_curve` comes from (the held-out curve's run)"
    )
    remedies: list[RemedyResult]
    best: str | None = Field(None, description="id (and setting) of the best measured remedy, if any helps")
    recommendation: str
    nothing_helps: bool
    cost_runs: float = Field(description="all trials together, in units of one training run")
    seconds: float
    rules: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    executor: dict[str, str | int | None] | None = Field(
        None, description="where the trials ran: kind (local or ray), address, workers"
    )
