"""Hugging Face Trainer histories: `trainer_state.json`'s log_history, and the same dicts as printed
to stdout by the Trainer (read by the text-log reader through `add_record`).

Each log_history entry is one logging event: training entries carry `loss`, `grad_norm` and
`learning_rate`; evaluation entries carry `eval_loss` and `eval_<metric>`; with several eval sets
(`eval_dataset={"a": ..., "b": ...}`) keys become `eval_<set>_loss`. The last entry is a run summary
(`train_loss` averaged over the whole run, `train_runtime`), which is not a curve.
"""

from __future__ import annotations

import math
import re
from typing import Any

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._models import History, Split
from probes.history._names import Kind, classify

_SKIP = {"step", "epoch", "total_flos", "num_input_tokens_seen"}
_EVAL_SET = re.compile(r"^eval_(.+)_loss$")


def is_summary(record: dict[str, Any]) -> bool:
    return "train_runtime" in record or ("train_loss" in record and "loss" not in record)


def add_record(builder: SeriesBuilder, record: dict[str, Any], step: float, epoch: float | None) -> None:
    for key, value in record.items():
        if key in _SKIP:
            continue
        number = to_float(value)
        if number is None and value is None and "loss" in key:
            number = math.nan  # stdout dicts: the text reader maps a bare nan to None
        if number is not None:
            builder.add(key, step, number, epoch)


def describe_eval_sets(builder: SeriesBuilder) -> list[str]:
    """`eval_<set>_<metric>` keys belong to eval set <set>; which sets exist is told by the loss keys,
    so `eval_overall_accuracy` (a metric) is not mistaken for a set called 'overall'."""
    names = builder.names()
    sets = sorted({m.group(1) for n in names if (m := _EVAL_SET.match(n))})
    for name in names:
        for eval_set in sets:
            prefix = f"eval_{eval_set}_"
            if name.startswith(prefix):
                kind = classify("eval_" + name[len(prefix) :])
                if kind is not None:
                    split: Split = "test" if "test" in eval_set.lower() else "val"
                    builder.describe(name, Kind(kind.role, split, kind.higher_is_better), eval_set)
    return sets


def read_trainer_state(data: object, source: str) -> History:
    if not isinstance(data, dict) or not isinstance(data.get("log_history"), list):
        raise ProbeError(f"{source}: JSON without a log_history list: not a Hugging Face trainer_state.json")
    if not data["log_history"]:
        raise ProbeError(
            f"{source}: trainer_state.json with an empty log_history: the Trainer logged nothing before this "
            "checkpoint (logging_steps larger than the steps run?); give a later checkpoint or lower logging_steps"
        )
    builder = SeriesBuilder("step")
    runs, last = 1, None
    for index, record in enumerate(data["log_history"]):
        if not isinstance(record, dict) or is_summary(record):
            continue
        step = to_float(record.get("step"))
        position = float(index) if step is None else step
        if last is not None and position < last:
            builder.restart()  # log_history of two runs concatenated: keep the last
            runs += 1
        last = position
        add_record(builder, record, position, to_float(record.get("epoch")))
    sets = describe_eval_sets(builder)
    max_steps = to_float(data.get("max_steps"))
    global_step = to_float(data.get("global_step"))
    notes = [f"Hugging Face trainer state: global_step {_fmt(global_step)} of max_steps {_fmt(max_steps)}"]
    if sets:
        notes.append(f"evaluation sets: {', '.join(sets)}")
    warnings = []
    if runs > 1:
        warnings.append(
            f"the step counter starts again {runs - 1} time(s): {runs} runs in one log_history; only the last is analysed"
        )
    return History(
        source=source,
        format="hf_trainer_state",
        warnings=warnings,
        series=builder.build(),
        total_steps=max_steps,
        notes=notes,
    )


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
