"""Weights & Biases run directories read from disk, without the wandb package.

Every W&B run (online or offline) keeps `run-<id>.wandb` in its directory (`wandb/run-<date>-<id>/`
or `wandb/offline-run-<date>-<id>/`): a LevelDB-style log of protobuf `Record` messages. The log
starts with a 7-byte header (":W&B", magic 0xBEE1 little-endian, version 0) and is cut into 32 KiB
blocks; each chunk has a 7-byte header (CRC-32 of the type byte then the data, length uint16, type
1 full / 2 first / 3 middle / 4 last) and a block's tail shorter than a header is zero padding.
Field numbers are those of wandb/proto/wandb_internal.proto (checked against wandb 0.31's
descriptors): Record.history = 2, .summary = 3, .config = 5, .run = 17; HistoryRecord.item = 1,
.step = 2; HistoryItem.key = 1, .nested_key = 2 (repeated), .integer = 5 (sint64), .number = 6
(double), .value_json = 16 (NaN is written "NaN"); RunRecord.config = 4; ConfigRecord.update = 1;
ConfigItem / SummaryItem: key 1, nested_key 2, value_json 16.

`files/wandb-summary.json` holds only the last value of each key: a summary, not a curve.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._files import check_size
from probes.history._models import History
from probes.history._protobuf import BYTES, FIXED64, VARINT, DecodeError, fields

MAGIC = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_TYPE_CRC = [zlib.crc32(bytes([t])) for t in range(5)]
_SKIP_KEYS = {"_step", "_runtime", "_timestamp", "_wandb", "epoch", "_epoch"}


def is_wandb_file(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC


def _run_dirs(folder: Path) -> list[Path]:
    try:
        return sorted(
            (p for p in folder.iterdir() if p.is_dir() and p.name.startswith(("run-", "offline-run-"))),
            key=lambda p: p.name.split("run-", 1)[1],  # run-<YYYYmmdd_HHMMSS>-<id>: by date
        )
    except OSError:
        return []


def _log_in(run_dir: Path) -> Path | None:
    try:
        logs = sorted(run_dir.glob("run-*.wandb"))
    except OSError:
        return None
    return logs[-1] if logs else None


def find_wandb_run(path: Path) -> Path | None:
    """The `run-*.wandb` log of the run `path` names: a run directory, or a `wandb/` folder (or the
    folder holding it) whose latest run is taken (`latest-run`, else the newest by its date)."""
    log = _log_in(path)
    if log is not None:
        return log
    for folder in (path, path / "wandb"):
        runs = _run_dirs(folder) if folder.is_dir() else []
        if not runs:
            continue
        latest = folder / "latest-run"
        try:
            chosen = latest.resolve(strict=True) if latest.is_symlink() else runs[-1]
        except OSError:
            chosen = runs[-1]  # a dangling latest-run link: the newest by date
        log = _log_in(chosen) or next((g for r in reversed(runs) if (g := _log_in(r))), None)
        if log is None:
            summary = chosen / "files" / "wandb-summary.json"
            what = (
                "only files/wandb-summary.json (final values, no curves)"
                if summary.exists()
                else "no run-*.wandb log"
            )
            raise ProbeError(f"{chosen}: W&B run directory with {what}: nothing to plot")
        return log
    if (path / "files" / "wandb-summary.json").exists():
        raise ProbeError(
            f"{path}: W&B run directory without its run-*.wandb log: files/wandb-summary.json holds only "
            "the final value of each metric, not the curves"
        )
    return None


class _Truncated(Exception):
    pass


def _chunks(fh: BinaryIO, warnings: list[str]) -> Iterator[bytes]:
    """The records of the log; a cut-off or corrupt tail stops the reading with a warning."""
    if fh.read(HEADER) != MAGIC:
        raise DecodeError("not a W&B log (no :W&B header)")
    pos = HEADER  # position within the current block
    pending: bytearray | None = None
    while True:
        if BLOCK - pos < HEADER:
            fh.read(BLOCK - pos)  # zero padding at the end of a block
            pos = 0
        head = fh.read(HEADER)
        if len(head) < HEADER:
            if head.strip(b"\x00"):
                warnings.append("the last record is cut off (run still being written?); read up to it")
            return
        checksum, length, kind = struct.unpack("<IHB", head)
        if kind == 0 and length == 0:
            fh.read(BLOCK - pos - HEADER)  # preallocated zeros: skip to the next block
            pos = 0
            continue
        data = fh.read(length)
        if len(data) < length:
            warnings.append("the last record is cut off (run still being written?); read up to it")
            return
        if kind > LAST or pos + HEADER + length > BLOCK or zlib.crc32(data, _TYPE_CRC[kind]) != checksum:
            warnings.append(f"corrupt record in block at byte {fh.tell() - length - HEADER}; stopped there")
            return
        pos += HEADER + length
        if kind == FULL:
            yield data
        elif kind == FIRST:
            pending = bytearray(data)
        elif pending is not None:
            pending += data
            if kind == LAST:
                yield bytes(pending)
                pending = None


def _item(buf: bytes, start: int, end: int) -> tuple[str, Any]:
    """(key, value) of a HistoryItem / SummaryItem / ConfigItem."""
    key, nested, value = "", [], None
    for number, wire, a, b in fields(buf, start, end):
        if number == 1 and wire == BYTES:
            key = buf[a:b].decode("utf-8", "replace")
        elif number == 2 and wire == BYTES:
            nested.append(buf[a:b].decode("utf-8", "replace"))
        elif number == 5 and wire == VARINT:
            value = float((a >> 1) ^ -(a & 1))  # sint64 zig-zag
        elif number == 6 and wire == FIXED64:
            value = struct.unpack("<d", buf[a:b])[0]
        elif number == 16 and wire == BYTES:
            try:
                value = json.loads(buf[a:b])
            except (ValueError, RecursionError):
                value = None
    return key or "/".join(nested), value


def _items(buf: bytes, start: int, end: int, field: int) -> Iterator[tuple[str, Any]]:
    for number, wire, a, b in fields(buf, start, end):
        if number == field and wire == BYTES:
            yield _item(buf, a, b)


def _config_value(value: Any) -> Any:
    # wandb 0.1x wrote config values as {"value": ..., "desc": ...}
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def read_wandb_file(path: Path, limit: int) -> History:
    """Curves of a W&B run log: x is W&B's `_step`, epochs from a logged `epoch` key."""
    check_size(path, limit)
    builder = SeriesBuilder("step")
    warnings: list[str] = []
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    rows = records = 0
    try:
        with path.open("rb") as fh:
            for record in _chunks(fh, warnings):
                records += 1
                for number, wire, a, b in fields(record):
                    if wire != BYTES:
                        continue
                    if number == 2:  # history
                        rows += 1
                        row = dict(_items(record, a, b, 1))
                        step = to_float(row.get("_step"))
                        epoch = to_float(row.get("epoch"))
                        position = float(rows - 1) if step is None else step
                        for key, value in row.items():
                            number_value = to_float(value)
                            if key not in _SKIP_KEYS and not key.startswith("_") and number_value is not None:
                                builder.add(key, position, number_value, epoch)
                    elif number == 3:  # summary
                        summary.update(_items(record, a, b, 1))
                    elif number == 5:  # config
                        config.update((k, _config_value(v)) for k, v in _items(record, a, b, 1))
                    elif number == 17:  # run: its config
                        for n2, w2, a2, b2 in fields(record, a, b):
                            if n2 == 4 and w2 == BYTES:
                                config.update((k, _config_value(v)) for k, v in _items(record, a2, b2, 1))
    except DecodeError as exc:
        if records == 0:
            raise ProbeError(f"{path}: not a readable W&B run log ({exc})") from None
        warnings.append(f"a record could not be decoded ({exc}); stopped there")
    series = builder.build()
    if not series:
        raise ProbeError(
            f"{path}: W&B run log with no logged metrics ({records} records, {rows} history rows): nothing to analyse"
        )
    notes = [f"W&B run log: {rows} history rows, {records} records"]
    one_off = sorted(
        k
        for k, v in summary.items()
        if not k.startswith("_")
        and k not in _SKIP_KEYS
        and k not in builder.names()
        and isinstance(v, int | float)
    )
    if one_off:
        notes.append(f"summary-only values (not curves): {', '.join(one_off[:8])}")
    history = History(source=str(path), format="wandb", series=series, notes=notes, warnings=warnings)
    history.config = {k: v for k, v in config.items() if not k.startswith("_") and _plain(v)}
    if history.config:
        history.config_source = f"{path.name} (the run's config)"
    return history


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (
        isinstance(value, float) and math.isnan(value)
    )
