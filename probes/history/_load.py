"""`load_history(spec)`: a file, a run directory or an MLflow run, read into one `History`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, TooManyPoints
from probes.history._files import (
    MAX_LINE_BYTES,
    Candidate,
    check_size,
    find_in_directory,
    human_size,
    max_bytes,
    read_head,
    read_text_bounded,
    refuse_lfs_pointer,
    sniff,
    whole_read_limit,
)
from probes.history._jsonfmt import _finish as finish_json
from probes.history._jsonfmt import parse_json, read_json_lines, read_json_records, read_json_value
from probes.history._mlflow import PAGE_SIZE, is_mlflow_spec, read_mlflow
from probes.history._models import History
from probes.history._sidecar import config_beside
from probes.history._tables import pick_delimiter, read_csv
from probes.history._textlog import read_text_log
from probes.history._tfevents import read_scalars
from probes.history._wandb import find_wandb_run, is_wandb_file, read_wandb_file

_SPLIT_FOLDERS = {"train", "training", "validation", "val", "valid", "eval", "test"}


def load_history(
    spec: str | Path, *, limit: int | None = None, timeout: float = 10.0, page_size: int = PAGE_SIZE
) -> History:
    """Read a history; every problem a user can cause is a one-line `ProbeError`. `limit` caps a
    file's size in bytes; `timeout` and `page_size` apply to MLflow."""
    text = str(spec).strip()
    if not text:
        raise ProbeError("no history given: pass a file, a run directory or mlflow://HOST:PORT/RUN_ID")
    if is_mlflow_spec(text):
        return _finish(read_mlflow(text, timeout, page_size))
    path = Path(text).expanduser()
    limit = limit or max_bytes()
    try:
        if not path.exists():
            raise ProbeError(f"{path}: no such file or directory")
        wandb_run = find_wandb_run(path) if path.is_dir() else None
        if wandb_run is not None:
            history = read_wandb_file(wandb_run, limit)
            if wandb_run.parent.parent != path and wandb_run.parent != path:
                history.notes.insert(0, f"read the W&B run {wandb_run.parent.name}")
        elif path.is_dir():
            chosen, notes = find_in_directory(path, limit)
            history = _read_chosen(chosen, path, limit)
            history.notes = notes + history.notes
            _add_config(history, chosen[0].path)
        else:
            history = read_file(path, limit)
            _add_config(history, path)
    except TooManyPoints as exc:
        raise ProbeError(f"{path}: {exc.message}") from None
    except PermissionError:
        raise ProbeError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return _finish(history)


def load_records(records: list[dict[str, Any]], source: str) -> History:
    """What `load_history` reads back from a JSON-lines file of these records (one dict per line), without
    writing and parsing the text: a watched run diagnoses its own history.jsonl from memory."""
    return _finish(read_json_records(records, source))


def load_curves(curves: list[tuple[str, list[float], list[float]]], source: str) -> History:
    """What `load_history` reads back from the JSON-lines file a watched run writes of these curves
    (one record per step, in step order, each curve's value there; NaN/inf written as null, which the
    reader skips), built straight from the curves: the same points, fed to the same SeriesBuilder in
    the order the reader would meet them (a name first seen at a lower step first; at the same step,
    the curves' order), the last value logged at a step winning as in a record."""
    firsts: list[tuple[float, int, str, list[float], list[float]]] = []
    for index, (name, steps, values) in enumerate(curves):
        if math.isfinite(sum(values)) and steps == sorted(set(steps)):
            # the common case (every value finite, each step once, in order): the points as they are
            kept_steps, kept_values = list(steps), list(values)
        else:
            kept: dict[float, float] = {}
            for step, value in zip(steps, values, strict=True):
                kept[step] = value
            points = sorted((s, v) for s, v in kept.items() if math.isfinite(v))
            kept_steps, kept_values = [s for s, _ in points], [v for _, v in points]
        if kept_steps:
            firsts.append((kept_steps[0], index, name, kept_steps, kept_values))
    builder = SeriesBuilder("step")
    for _, _, name, kept_steps, kept_values in sorted(firsts, key=lambda f: (f[0], f[1])):
        builder.extend(name, kept_steps, kept_values)
    return _finish(finish_json(builder, source, "jsonl"))


def read_file(path: Path, limit: int) -> History:
    check_size(path, limit)
    head = read_head(path)
    refuse_lfs_pointer(path, head)
    if is_wandb_file(head):
        return read_wandb_file(path, limit)
    fmt = sniff(head)
    source = str(path)
    if fmt is None:
        raise ProbeError(f"{path}: binary data that is not a TensorBoard event file: not a training history")
    if fmt == "tfevents":
        return read_event_files([path], path.parent, limit)
    if fmt == "csv":
        first = head.decode("utf-8", errors="replace").splitlines()[:5]
        delimiter = pick_delimiter([h for h in first if h.strip()]) or ","
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            return read_csv(bounded_lines(fh, source), source, delimiter)
    text = read_text_bounded(path, whole_read_limit(limit))
    if fmt == "json":
        return read_json_value(parse_json(text, source), source)
    if fmt == "jsonl":
        return read_json_lines(text, source)
    return read_text_log(text, source)


def _add_config(history: History, log: Path) -> None:
    if history.config:
        return
    found = config_beside(log)
    if found is not None:
        history.config, history.config_source = found
        history.notes.append(f"read {', '.join(sorted(found[0]))} from {Path(found[1]).name} beside the log")


def bounded_lines(fh: TextIO, source: str, max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The file's lines, never holding more than one line of at most `max_line` characters: a file
    of one 250 MB line is refused after reading 1 MB, not loaded whole."""
    number = 0
    while True:
        line = fh.readline(max_line + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line:
            raise ProbeError(
                f"{source}: line {number} is longer than {human_size(max_line)}: not a training-history table "
                "(rows of a metrics CSV are short)"
            )
        yield line


def _read_chosen(chosen: list[Candidate], root: Path, limit: int) -> History:
    if chosen[0].format == "tfevents":
        return read_event_files([c.path for c in chosen], root, limit)
    history = read_file(chosen[0].path, limit)
    history.notes.insert(0, f"read {chosen[0].path}")
    return history


def read_event_files(paths: list[Path], root: Path, limit: int) -> History:
    """Scalars of one run's event files. Files in train/ and validation/ subfolders (Keras) have
    their tags prefixed with the folder, so 'validation/epoch_loss' reads as a validation loss."""
    builder = SeriesBuilder("step")
    records = skipped = 0
    warnings: list[str] = []
    total = 0
    for path in sorted(paths):
        total += check_size(path, limit)
        if total > limit:
            raise ProbeError(f"{root}: event files add up to more than the size limit ({limit} bytes)")
        scalars = read_scalars(path.read_bytes())
        records += scalars.records
        skipped += scalars.skipped
        if scalars.truncated:
            warnings.append(
                f"{path.name}: the last record is cut off (file still being written?); read up to it"
            )
        if scalars.corrupt_at is not None:
            if scalars.records == 0:
                raise ProbeError(
                    f"{path}: not a readable TensorBoard event file (bad record header at byte 0)"
                )
            warnings.append(f"{path.name}: corrupt record header at byte {scalars.corrupt_at}; stopped there")
        folder = path.parent.name.lower()
        prefix = f"{path.parent.name}/" if folder in _SPLIT_FOLDERS else ""
        for tag, points in scalars.points.items():
            for step, value in points:
                builder.add(prefix + tag, step, value)
    if skipped:
        warnings.append(f"{skipped} event records could not be decoded and were skipped")
    series = builder.build()
    where = paths[0] if len(paths) == 1 else root
    if not series:
        what = "event file" if len(paths) == 1 else f"{len(paths)} event files"
        plural = "s" if records != 1 else ""
        raise ProbeError(
            f"{where}: TensorBoard {what} with no scalars ({records} record{plural}): nothing to analyse"
        )
    return History(
        source=str(where),
        format="tfevents",
        series=series,
        notes=[f"TensorBoard: {len(paths)} event file(s), {records} records"],
        warnings=warnings,
    )


def _finish(history: History) -> History:
    """Drop one-off summaries (a one-point loss or metric beside a real curve of the same split:
    "Best ValLoss: 1.05", a checkpoint name's val_loss=...), re-index curves logged with one step for
    every point, and refuse a history without any loss."""
    one_off: list[str] = []
    for split in ("train", "val", "test"):
        for role in ("loss", "metric"):
            same = [s for s in history.series if s.role == role and s.split == split]
            if any(len(s.values) >= 3 for s in same):
                one_off += [s.name for s in same if len(s.values) == 1]
    if one_off:
        history.series = [s for s in history.series if s.name not in one_off]
        history.notes.append(f"one-off values beside real curves, not analysed: {', '.join(one_off[:8])}")
    for s in history.series:
        if len(s.steps) > 1 and s.steps[0] == s.steps[-1]:
            s.steps = [float(i) for i in range(len(s.steps))]
            s.x = "index"
    if not any(s.role == "loss" for s in history.series):
        names = ", ".join(sorted({s.name for s in history.series})[:8]) or "nothing numeric"
        raise ProbeError(f"{history.source}: no loss curve in it (found: {names})")
    return history
