"""Finding the history in a path and telling its format from its content (never from its name).

A file is sniffed from its first bytes: a TFRecord header whose CRC checks out is a TensorBoard event
file; '{' or '[' starts JSON (a trainer_state.json committed as `__init__.py` is still one); a header
line with a loss column is CSV; other text is a log. Binary data that is none of these is refused.
Files over the size limit are refused before they are opened.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from probes.base import ProbeError
from probes.history._names import classify
from probes.history._tables import pick_delimiter
from probes.history._tfevents import looks_like_tfrecord

Format = Literal["tfevents", "json", "jsonl", "csv", "text"]
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# JSON and text logs are parsed whole and a parsed JSON takes ~10x its size in memory: a lower cap
# for them, so a large file is refused before memory is spent (CSV and event files are streamed)
WHOLE_READ_MAX_BYTES = 64_000_000
MAX_LINE_BYTES = 1_000_000  # a history's rows are short; a longer line is not a training log
SNIFF_BYTES = 64 * 1024
_WALK_LIMIT = 20_000  # directory entries looked at, so a home directory is not crawled
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv", "wandb", "mlruns", ".ipynb_checkpoints"}


def max_bytes() -> int:
    raw = os.environ.get("TRAINDOC_HISTORY_MAX_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


def whole_read_limit(limit: int) -> int:
    """The cap for formats parsed whole: the lower cap, unless the user raised the size limit."""
    raised = os.environ.get("TRAINDOC_HISTORY_MAX_BYTES")
    return limit if raised else min(limit, WHOLE_READ_MAX_BYTES)


def read_text_bounded(path: Path, limit: int) -> str:
    """The whole file as text, never reading more than `limit` bytes (a file growing while read, or
    one whose reported size is wrong, is refused instead of read on)."""
    size, data = path.stat().st_size, b""
    if size <= limit:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    if size > limit or len(data) > limit:
        raise ProbeError(
            f"{path} is {human_size(max(size, limit + 1))}, over the {human_size(limit)} limit for a JSON or text "
            "history, which is parsed whole (set TRAINDOC_HISTORY_MAX_BYTES to raise it)"
        )
    return data.decode("utf-8", errors="replace")


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_size(path: Path, limit: int) -> int:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ProbeError(f"{path} is not a regular file (a device, pipe or socket): give a history file")
    size = info.st_size
    if size > limit:
        raise ProbeError(
            f"{path} is {human_size(size)}, over the {human_size(limit)} limit for a history file "
            "(set TRAINDOC_HISTORY_MAX_BYTES to raise it)"
        )
    if size == 0:
        raise ProbeError(f"{path} is empty: no training history in it")
    return size


_LFS = re.compile(rb"^version https://git-lfs\.github\.com/spec/v1\s+oid sha256:[0-9a-f]{64}\s+size (\d+)")


def refuse_lfs_pointer(path: Path, head: bytes) -> None:
    """A Git LFS pointer is a 130-byte stand-in for a file that was never downloaded."""
    match = _LFS.match(head)
    if match:
        raise ProbeError(
            f"{path} is a Git LFS pointer, not the file itself (the real file is {human_size(int(match.group(1)))}): "
            "run `git lfs pull` in that repository, then try again"
        )


def read_head(path: Path, n: int = SNIFF_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    return bad > max(4, len(text) // 100)  # a cut multi-byte character at the end is fine


def sniff(head: bytes) -> Format | None:
    """The format of a file from its first bytes; None for binary data that is not an event file."""
    if looks_like_tfrecord(head):
        return "tfevents"
    if _is_binary(head):
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        first, _, rest = text.partition("\n")
        if first.rstrip().endswith("}") and rest.lstrip().startswith("{"):
            return "jsonl" if '"' in first[:3] else "text"  # {'loss': ...} lines are HF stdout
        return "json" if text[1:].lstrip()[:1] in ('"', "}", "") else "text"
    lines = [line for line in text.splitlines()[:6] if line.strip()]
    if lines and pick_delimiter(lines):
        return "csv"
    return "text"


# -- directories ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    path: Path
    format: Format
    rank: int  # lower is better: trainer state, loss CSV, event files, JSON, text log
    order: float  # among equals: larger wins (global_step, version number, mtime)


_GLOBAL_STEP = re.compile(rb'"global_step"\s*:\s*(\d+)')
_VERSION = re.compile(r"(?:version_|checkpoint-)(\d+)")


def _candidate(path: Path, limit: int) -> Candidate | None:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0 or info.st_size > limit:
            return None
        head = read_head(path, 16 * 1024)
    except OSError:
        return None
    fmt = sniff(head)
    mtime = info.st_mtime
    version = max((int(v) for v in _VERSION.findall(str(path))), default=-1)
    if fmt == "tfevents":
        return Candidate(path, fmt, 2, mtime)
    if fmt == "json" and b'"log_history"' in head:
        step = _GLOBAL_STEP.search(head)
        return Candidate(path, fmt, 0, float(step.group(1)) if step else float(version))
    if fmt == "csv":
        header = head.decode("utf-8", "replace").splitlines()[0]
        delim = pick_delimiter(head.decode("utf-8", "replace").splitlines()[:5]) or ","
        if any((k := classify(col)) is not None and k.role == "loss" for col in header.split(delim)):
            return Candidate(path, fmt, 1, version if version >= 0 else mtime)
        return None
    if fmt in ("json", "jsonl") and b"loss" in head:
        return Candidate(path, fmt, 3, mtime)
    if fmt == "text" and b"loss" in head.lower():
        return Candidate(path, fmt, 4, mtime)
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _walk(root: Path, max_depth: int = 4) -> tuple[list[Path], int]:
    files: list[Path] = []
    seen = 0
    stack = [(root, 0)]
    while stack and seen < _WALK_LIMIT:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
                continue
            try:
                if entry.is_dir(follow_symlinks=False) and depth < max_depth:
                    stack.append((Path(entry.path), depth + 1))
                elif entry.is_file():
                    files.append(Path(entry.path))
            except OSError:
                continue  # a symlink loop or an unreadable entry: skip it, read the rest
    return files, seen


def find_in_directory(root: Path, limit: int) -> tuple[list[Candidate], list[str]]:
    """The files to read from a run directory (all event files of the chosen run, or one file) and
    notes saying what was chosen over what."""
    files, seen = _walk(root)
    if not files:
        raise ProbeError(f"{root} is an empty directory: no training history in it")
    candidates = [c for c in (_candidate(p, limit) for p in files) if c is not None]
    if not candidates:
        too_big = [p for p in files if _size(p) > limit]
        extra = f" ({len(too_big)} over the {human_size(limit)} size limit)" if too_big else ""
        raise ProbeError(
            f"no training history found in {root}: looked at {len(files)} files{extra} for a "
            "trainer_state.json, a metrics CSV, TensorBoard event files or a log with losses"
        )
    best_rank = min(c.rank for c in candidates)
    chosen = sorted((c for c in candidates if c.rank == best_rank), key=lambda c: c.order)
    notes: list[str] = []
    if best_rank == 2:
        chosen = _one_event_run(chosen, root, notes)
    else:
        if len(chosen) > 1:
            notes.append(f"read {chosen[-1].path.relative_to(root)}, the latest of {len(chosen)} candidates")
        chosen = chosen[-1:]
    others = sorted({c.format for c in candidates if c.rank != best_rank})
    if others:
        notes.append(f"also found ({', '.join(others)}), not read")
    if seen >= _WALK_LIMIT:
        notes.append(f"stopped looking after {_WALK_LIMIT} directory entries")
    return chosen, notes


_SPLIT_FOLDERS = {"train", "training", "validation", "val", "valid", "eval", "test"}


def _one_event_run(events: list[Candidate], root: Path, notes: list[str]) -> list[Candidate]:
    """Event files of one run: Keras puts train/ and validation/ side by side (one run); HF and
    Lightning start a new folder per run (runs/<date>/, version_N/): keep the most recent one."""

    def run_folder(c: Candidate) -> Path:
        parent = c.path.parent
        return parent.parent if parent.name.lower() in _SPLIT_FOLDERS else parent

    folders: dict[Path, list[Candidate]] = {}
    for c in events:
        folders.setdefault(run_folder(c), []).append(c)
    latest = max(folders, key=lambda f: max(c.order for c in folders[f]))
    if len(folders) > 1:
        notes.append(
            f"{len(folders)} TensorBoard runs found; read the most recent, {latest.relative_to(root) or '.'}"
        )
    return folders[latest]
