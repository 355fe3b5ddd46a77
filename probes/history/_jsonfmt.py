"""Plain JSON histories: a list of per-epoch records, Keras's `history.history` ({"loss": [...]}),
or JSON lines. A `trainer_state.json` (any file name) goes to the Hugging Face reader.
"""

from __future__ import annotations

import json
from typing import Any

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._hf import read_trainer_state
from probes.history._models import Axis, History

_EXPECTED = (
    "expected a trainer_state.json (log_history), a list of per-epoch records with a loss, "
    'or {"loss": [...], "val_loss": [...]}'
)


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ProbeError(f"{source}: JSON nested too deeply to be a training history") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        if exc.pos >= len(text.rstrip()) - 1:
            raise ProbeError(f"{source}: truncated JSON (ends at {where}): was the file cut off?") from None
        raise ProbeError(f"{source}: invalid JSON at {where}: {exc.msg}") from None


def read_json_value(data: Any, source: str) -> History:
    if isinstance(data, dict) and isinstance(data.get("log_history"), list):
        return read_trainer_state(data, source)
    if isinstance(data, dict) and isinstance(data.get("history"), dict | list):
        data = data["history"]
    if isinstance(data, dict) and isinstance(data.get("epochs"), list):
        data = data["epochs"]
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _records(data, source, "json")
    if isinstance(data, dict) and any(isinstance(v, list) for v in data.values()):
        return _columns(data, source)
    raise ProbeError(f"{source}: JSON without a loss curve: {_EXPECTED}")


def read_json_lines(text: str, source: str) -> History:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProbeError(f"{source}: line {number} is not JSON ({exc.msg})") from None
        if isinstance(record, dict):
            records.append(record)
    return _records(records, source, "jsonl")


def read_json_records(records: list[dict[str, Any]], source: str) -> History:
    """The records of a JSON-lines file, already parsed."""
    return _records(records, source, "jsonl")


def _records(records: list[dict[str, Any]], source: str, fmt: str) -> History:
    keys = {k.lower() for r in records[:50] for k in r}
    x: Axis = "step" if {"step", "global_step"} & keys else "epoch" if "epoch" in keys else "index"
    builder = SeriesBuilder(x)
    runs, last = 1, None
    for index, record in enumerate(records):
        epoch = to_float(record.get("epoch"))
        step = to_float(record.get("step", record.get("global_step")))
        position = step if x == "step" else epoch if x == "epoch" else None
        position = float(index) if position is None else position
        if last is not None and position < last:
            builder.restart()  # the counter went back: a second run appended
            runs += 1
        last = position
        for key, value in record.items():
            if key.lower() in ("step", "global_step", "epoch"):
                continue
            number = to_float(value)
            if number is not None:
                builder.add(key, position, number, epoch)
    history = _finish(builder, source, fmt)
    if runs > 1:
        history.warnings.append(
            f"the {x} counter starts again {runs - 1} time(s): {runs} runs in one file; only the last is analysed"
        )
    return history


def _columns(data: dict[str, Any], source: str) -> History:
    builder = SeriesBuilder("epoch")
    for key, values in data.items():
        if not isinstance(values, list):
            continue
        for epoch, value in enumerate(values):
            number = to_float(value)
            if number is not None:
                builder.add(key, float(epoch), number, float(epoch))
    return _finish(builder, source, "json")


def _finish(builder: SeriesBuilder, source: str, fmt: str) -> History:
    series = builder.build()
    if not any(s.role == "loss" for s in series):
        raise ProbeError(f"{source}: JSON without a loss curve: {_EXPECTED}")
    return History(source=source, format=fmt, series=series)
