"""The service's bodies, named by role: what clients send (`...Create`) and what they read (`...Public`).

The session's inputs and report are the core's models (assistant/models.py) and the probe's progress
and outcome are the probes' (probes/base.py): one schema for the CLI's JSON, the API and the TUI.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.models import Report, SessionInput
from probes.base import ProbeOutcome, ProbeProgress
from traindoc.errors import CODES, HTTP_ERROR, INTERNAL_ERROR

# Names of server-registered setups and histories: short, printable, no path separators.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled", "interrupted"})


class _Request(BaseModel):
    # unknown fields are refused: a typo ("questoin") must not be silently ignored
    model_config = ConfigDict(extra="forbid")


# -- catalog ------------------------------------------------------------------------------------------


class SetupPublic(BaseModel):
    name: str
    kind: Literal["file", "module", "demo"]
    description: str = ""


class HistoryPublic(BaseModel):
    name: str
    description: str = ""


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    schema_version: int = Field(description="the store's database schema version")
    jobs_running: int = 0
    jobs_queued: int = 0


# -- sessions -----------------------------------------------------------------------------------------


class SessionCreate(_Request):
    setup: str | None = Field(None, max_length=64, description="a setup NAME registered on the server")
    history: str | None = Field(None, max_length=64, description="a history NAME registered on the server")


class _SessionFields(BaseModel):
    """What every view of a session shows first."""

    id: str
    created_at: datetime
    updated_at: datetime
    setup: str | None = None
    history: str | None = None


class SessionSummary(_SessionFields):
    findings: list[str] = Field(default_factory=list, description="finding ids reached so far")
    complete: bool = False


class SessionPublic(_SessionFields):
    report: Report
    inputs: list[SessionInput] = Field(description="the session's inputs, oldest first: its only state")


class AnswerCreate(_Request):
    question: str = Field(max_length=64)
    value: str = Field(max_length=16, description="yes, no or unsure")
    note: str | None = Field(None, max_length=2000)


class AnswerChange(_Request):
    value: str = Field(max_length=16, description="yes, no or unsure")
    note: str | None = Field(None, max_length=2000)


class HistoryApply(_Request):
    history: str = Field(max_length=64, description="a history NAME registered on the server")
    # facts the file may not show, which settle the training-loss question (the outcome's `needs`)
    classes: int | None = Field(None, ge=2, le=1_000_000, description="number of classes (baseline ln C)")
    baseline: float | None = Field(None, gt=0, description="the loss of a trivial predictor, if known")


class OutcomeApply(_Request):
    """A measurement made elsewhere (a watched training run) recorded as evidence; user answers win."""

    outcome: ProbeOutcome
    source: Literal["probe", "history"] = "probe"
    notes: list[str] = Field(default_factory=list, max_length=50)


class CurvePoint(BaseModel):
    """One logged point of a watched run: a loss, learning rate or gradient norm at a step."""

    name: str = Field(
        min_length=1, max_length=200, description="the curve: loss, val_loss, learning_rate, ..."
    )
    step: float = Field(allow_inf_nan=False)
    value: float | None = Field(None, description="null: a NaN or infinite value (divergence)")


class PointsAppend(_Request):
    """A batch of curve points streamed while a run trains (`assistant.watch`, `server=`), and the
    alerts raised since the last batch (kept as session notes)."""

    points: list[CurvePoint] = Field(default_factory=list, max_length=20_000)
    alerts: list[str] = Field(default_factory=list, max_length=50)


class PointsPage(BaseModel):
    """Points of a session from `after` on, in arrival order; `next` is the `after` of the next page."""

    session_id: str
    total: int
    next: int
    points: list[CurvePoint]


# -- probe jobs ---------------------------------------------------------------------------------------


class ProbeJobCreate(_Request):
    probe: str = Field(max_length=32, description="baselines, depth, curvature, generalization or auto")
    setup: str | None = Field(None, max_length=64, description="a setup NAME; default: the session's")
    options: dict[str, Any] = Field(default_factory=dict, description="the probe's keyword options")


class ProbeJob(BaseModel):
    id: str
    session_id: str
    probe: str
    setup: str | None = None
    status: JobStatus
    progress: ProbeProgress | None = None
    outcome: ProbeOutcome | None = None
    error: str | None = None
    error_code: str | None = Field(
        None,
        description="why it failed or stopped, stable for programs (the codes of the error body: "
        "probe_failed, training_diverged, out_of_memory, setup_mismatch, job_timed_out, probe_cancelled, ...)",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ProbeJobEvent(BaseModel):
    kind: Literal["progress", "status", "done"]
    job_id: str
    progress: ProbeProgress | None = None
    job: ProbeJob | None = None


# -- errors -------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    field: str | None = None
    code: str = Field(
        description="what went wrong, stable for programs (branch on this, never on `message`): "
        + ", ".join(f"`{code}`" for code in sorted({*CODES, INTERNAL_ERROR, HTTP_ERROR}))
        + " (docs/service.md, 'Errors'; new codes may be added)",
        examples=["not_found"],
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- curves watched live (issue 15: resume from another machine draws them again) ----------------------

MAX_CURVE_POINTS = 20_000  # every curve of a session together (the default body limit, 256 KiB, holds ~8,000)
MAX_CURVE_NAME = 128


class SessionCurves(_Request):
    """Curves a client drew live while probes ran, by probe then curve name, as [x, y] points (finite).

    Probe results keep numbers, not curves; kept with the session, a resumed session shows the curves
    on any machine. PUT replaces what was stored."""

    curves: dict[str, dict[str, list[tuple[float, float]]]] = Field(default_factory=dict, max_length=64)

    @model_validator(mode="after")
    def _bounded(self) -> SessionCurves:
        total = 0
        for probe, named in self.curves.items():
            if not probe or len(probe) > MAX_CURVE_NAME or len(named) > 64:
                raise ValueError(
                    f"curves.{probe[:MAX_CURVE_NAME]}: at most 64 curves, names of 1-128 characters"
                )
            for name, points in named.items():
                if not name or len(name) > MAX_CURVE_NAME:
                    raise ValueError(f"curves.{probe}: curve names of 1-128 characters")
                if not all(math.isfinite(x) and math.isfinite(y) for x, y in points):
                    raise ValueError(f"curves.{probe}.{name}: points must be finite numbers (drop NaN/inf)")
                total += len(points)
        if total > MAX_CURVE_POINTS:
            raise ValueError(f"curves: {total} points, at most {MAX_CURVE_POINTS} per session; thin them")
        return self
