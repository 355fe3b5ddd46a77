"""Training histories users already have, read and judged against the flowchart.

    from probes.history import history_outcome
    outcome = history_outcome("runs/checkpoint-1500")          # ProbeOutcome(probe="history")
    outcome = history_outcome("metrics.csv", classes=10)       # with what the file does not say

Readers: Hugging Face trainer_state.json (any checkpoint directory: the latest), Lightning and Keras
CSV loggers, TensorBoard event files (PyTorch and TF2 writers; decoded here, no tensorboard package),
plain CSV/JSON, text logs, W&B run directories (the run-*.wandb log, decoded here), and MLflow runs over REST (mlflow://HOST:PORT/RUN_ID). Formats are told by
content. This package never imports torch. Every user-caused problem is a one-line ProbeError.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pydantic import ValidationError

from probes.base import ProbeError, ProbeOutcome
from probes.history._analysis import HistoryOptions, analyse, held_out_series, primary_train
from probes.history._groups import select_group
from probes.history._load import load_history
from probes.history._models import (
    Baseline,
    CurveSummary,
    Divergence,
    EarlyStopping,
    HeldOutCheck,
    History,
    HistoryAnalysis,
    MetricCheck,
    Noise,
    Series,
    Spike,
    Trend,
)
from probes.history._outcome import build_outcome

__all__ = [
    "Baseline",
    "CurveSummary",
    "Divergence",
    "EarlyStopping",
    "HeldOutCheck",
    "History",
    "HistoryAnalysis",
    "HistoryOptions",
    "MetricCheck",
    "Noise",
    "Series",
    "Spike",
    "Trend",
    "analyse",
    "downsample",
    "history_outcome",
    "outcome_of",
    "load_history",
    "plotted_series",
]

_LOAD_OPTIONS = {"limit", "timeout", "page_size", "group"}


def downsample(series: Series, points: int = 300) -> Series:
    """At most ~`points` points, keeping each bucket's lowest and highest value (spikes survive) and
    every NaN/inf (divergence must stay visible)."""
    n = len(series.values)
    if n <= points:
        return series
    buckets = max(1, points // 2)
    keep: set[int] = set()
    size = n / buckets
    for b in range(buckets):
        lo, hi = int(b * size), max(int((b + 1) * size), int(b * size) + 1)
        idx = [i for i in range(lo, min(hi, n)) if math.isfinite(series.values[i])]
        if idx:
            keep.add(min(idx, key=series.values.__getitem__))
            keep.add(max(idx, key=series.values.__getitem__))
    bad = [i for i, v in enumerate(series.values) if not math.isfinite(v)]
    keep.update(bad[:points])
    keep.update((0, n - 1))
    order = sorted(keep)
    return series.model_copy(
        update={
            "steps": [series.steps[i] for i in order],
            "values": [series.values[i] for i in order],
            "epochs": [series.epochs[i] for i in order] if series.epochs else None,
        }
    )


def plotted_series(history: History) -> list[Series]:
    """The curves worth drawing: the training loss and the held-out losses, primary first."""
    train = primary_train(history)
    return ([train] if train else []) + held_out_series(history)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def history_outcome(spec: str, **opts: Any) -> ProbeOutcome:
    """Read a history, analyse it, and answer the flowchart's questions the curves can answer.

    Options: classes, priors, label_smoothing, baseline, patience, gl_alpha (analysis); group (the
    model prefix to analyse when a file logs several); limit (bytes), timeout (seconds, MLflow),
    page_size (MLflow).
    """
    started = time.perf_counter()
    load_opts = {k: v for k, v in opts.items() if k in _LOAD_OPTIONS and v is not None}
    try:
        options = HistoryOptions(
            **{k: v for k, v in opts.items() if k not in _LOAD_OPTIONS and v is not None}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProbeError(f"history option {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    group = load_opts.pop("group", None)
    history = select_group(load_history(spec, **load_opts), group)
    return outcome_of(history, options, started)


def outcome_of(
    history: History,
    options: HistoryOptions,
    started: float | None = None,
    *,
    analysis: HistoryAnalysis | None = None,
) -> ProbeOutcome:
    """`history_outcome` for a History already in memory (a watched run's: `probes.history._load.
    load_records` builds it from the records it wrote, as `load_history` would read them back).
    `analysis`: `analyse(history, options)` when the caller already has it (a watched run's final
    analysis of the same curves, `LiveHistory.analysis_of`)."""
    started = time.perf_counter() if started is None else started
    if analysis is None:
        analysis = analyse(history, options)
    curves = [downsample(s).model_dump(mode="json") for s in plotted_series(history)]
    data = {
        "source": history.source,
        "format": history.format,
        "notes": history.notes,
        "warnings": history.warnings,
        "total_steps": history.total_steps,
        "config": {"values": history.config, "source": history.config_source} if history.config else None,
        "group": history.group,
        "groups": history.groups,
        "series": [
            {
                "name": s.name,
                "role": s.role,
                "split": s.split,
                "eval_set": s.eval_set,
                "points": len(s.values),
            }
            for s in history.series
        ],
        "analysis": analysis.model_dump(mode="json"),
        "curves": curves,
    }
    outcome = build_outcome(history, analysis, {s.name: s for s in history.series}, _json_safe(data))
    outcome.seconds = time.perf_counter() - started
    return outcome
