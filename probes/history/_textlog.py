"""Training logs captured from stdout: what can be read is read, the rest is refused in one line.

Three shapes are recognised:
- Hugging Face Trainer dicts, one per line: {'loss': 0.04, 'grad_norm': 0.5, 'epoch': 0.46}
- Keras progress output: 'Epoch 3/10' then '... - loss: 0.41 - accuracy: 0.85 - val_loss: 0.47'
- hand-written loops: 'Epoch [1/50], Train Loss: 1.9463, Val Loss: 1.9097, Val Acc: 17.37%'
A log often holds several runs (the epoch counter starts again); the last run is analysed.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._files import MAX_LINE_BYTES
from probes.history._hf import add_record, describe_eval_sets, is_summary
from probes.history._models import History
from probes.history._names import classify

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"
_PAIR = re.compile(rf"((?:[A-Za-z][\w/.]*[ _-]){{0,2}}[A-Za-z][\w/.]*)\s*[:=]\s*({_NUMBER})(?![\w.])%?", re.I)
_EPOCH = re.compile(r"\bepoch\b\s*[\[:(#]?\s*(\d+)(?:\s*/\s*(\d+))?", re.I)
_STEP = re.compile(r"\b(?:global[_ ]?)?step\b\s*[\[:=(#]?\s*(\d+)", re.I)
_BARE = re.compile(r"(?<![\w'\"])(-?)(nan|inf)(?![\w'\"])")
_REFUSAL = (
    "a text log without loss values traindoc can read (it reads Hugging Face {'loss': ...} lines, "
    "Keras 'loss: 0.5 - val_loss: 0.6' lines and 'Epoch N ... Loss: x' lines)"
)


@dataclass
class _Run:
    records: list[tuple[float | None, float | None, dict[str, float]]] = field(default_factory=list)


def _python_dict(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        # Python's repr writes nan and inf bare; literal_eval knows neither
        text = _BARE.sub(lambda m: "None" if m.group(2) == "nan" else f"{m.group(1)}1e999", text)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _read_hf_lines(dicts: list[dict[str, Any]], source: str) -> History:
    builder = SeriesBuilder("index")
    runs = 1
    last_epoch = None
    for index, record in enumerate(dicts):
        epoch = to_float(record.get("epoch"))
        if epoch is not None and last_epoch is not None and epoch < last_epoch - 1e-9:
            builder, runs = SeriesBuilder("index"), runs + 1  # a new run starts: keep the last one
        last_epoch = epoch if epoch is not None else last_epoch
        if not is_summary(record):
            add_record(builder, record, float(index), epoch)
    describe_eval_sets(builder)
    notes = [f"Hugging Face Trainer stdout: {len(dicts)} logged dicts (x = their order in the log)"]
    return _history(builder, source, notes, runs)


def _pairs(line: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for match in _PAIR.finditer(line):
        key = match.group(1).strip()
        kind = classify(key)
        if kind is None or (kind.role == "metric" and kind.higher_is_better is None):
            continue
        value = to_float(match.group(2))
        if value is not None:
            out[key] = value
    return out


def _read_lines(lines: list[str], source: str) -> History | None:
    runs = [_Run()]
    epoch: float | None = None
    for line in lines:
        found = _EPOCH.search(line)
        if found:
            new_epoch = float(found.group(1))
            if epoch is not None and new_epoch < epoch and runs[-1].records:
                runs.append(_Run())  # the epoch counter went back: a new run
            epoch = new_epoch
        pairs = _pairs(line)
        if not any(k for k in pairs if (c := classify(k)) is not None and c.role == "loss"):
            continue
        step_match = _STEP.search(line)
        step = float(step_match.group(1)) if step_match else None
        records = runs[-1].records
        if records and step is None and records[-1][0] == epoch and epoch is not None:
            records[-1][2].update(pairs)  # Keras progress updates within one epoch: the last wins
        else:
            records.append((epoch, step, pairs))
    run = runs[-1] if runs[-1].records else next((r for r in reversed(runs) if r.records), None)
    if run is None:
        return None
    use_steps = all(step is not None for _, step, _ in run.records)
    use_epochs = not use_steps and all(e is not None for e, _, _ in run.records)
    builder = SeriesBuilder("step" if use_steps else "epoch" if use_epochs else "index")
    for index, (ep, step, pairs) in enumerate(run.records):
        position = step if use_steps else ep if use_epochs else float(index)
        for key, value in pairs.items():
            builder.add(key, float(position if position is not None else index), value, ep)
    notes = [f"text log: {len(run.records)} records with losses"]
    return _history(builder, source, notes, sum(1 for r in runs if r.records))


def _history(builder: SeriesBuilder, source: str, notes: list[str], runs: int) -> History:
    series = builder.build()
    if not any(s.role == "loss" for s in series):
        raise ProbeError(f"{source}: {_REFUSAL}")
    warnings = []
    if runs > 1:
        warnings.append(
            f"the log holds {runs} runs (the epoch counter starts again); only the last is analysed"
        )
    return History(source=source, format="text_log", series=series, notes=notes, warnings=warnings)


def read_text_log(text: str, source: str) -> History:
    # a line over 1 MB is a dump (a printed tensor, binary junk), not a log record: skipped, so the
    # regular expressions never run over a huge line
    lines = [
        seg
        for line in text.replace("\b", "").split("\n")
        if len(line) <= MAX_LINE_BYTES
        for seg in line.split("\r")
        if seg.strip()
    ]
    dicts = [d for d in (_python_dict(line) for line in lines) if d is not None]
    if any(any("loss" in str(k) for k in d) for d in dicts):
        return _read_hf_lines(dicts, source)
    history = _read_lines(lines, source)
    if history is None:
        raise ProbeError(f"{source}: {_REFUSAL}")
    return history
