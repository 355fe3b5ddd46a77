"""What the TUI keeps about a session beyond the service's record, for `--resume`: the sources it was
started with (setup / demo / history, as the user gave them, made absolute) and the curves watched
live (probe results store numbers, not curves).

One small JSON file per session under $TRAINDOC_HOME/tui-sessions/, written by the TUI on the
user's machine (with `--server` too: the curves were watched here). Unreadable files are ignored:
losing this loses a convenience, never an answer (answers live in the service's database).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

Curves = dict[str, dict[str, list[tuple[float, float]]]]
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def store_dir() -> Path:
    home = os.environ.get("TRAINDOC_HOME") or str(Path.home() / ".local" / "share" / "traindoc")
    return Path(home) / "tui-sessions"


def _path(session_id: str) -> Path | None:
    return store_dir() / f"{session_id}.json" if SAFE_ID.match(session_id) else None


def load(session_id: str) -> dict[str, Any]:
    path = _path(session_id)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _update(session_id: str, **fields: Any) -> None:
    path = _path(session_id)
    if path is None:
        return
    data = {**load(session_id), **fields}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)  # never a half-written file
    except OSError:
        pass  # a read-only home only loses the convenience


def save_sources(session_id: str, sources: dict[str, str]) -> None:
    if sources:
        _update(session_id, sources=sources)


def load_sources(session_id: str) -> dict[str, str]:
    sources = load(session_id).get("sources")
    if not isinstance(sources, dict):
        return {}
    return {k: v for k, v in sources.items() if k in ("setup", "demo", "history") and isinstance(v, str)}


def save_curves(session_id: str, curves: Curves) -> None:
    _update(
        session_id,
        curves={p: {n: [list(xy) for xy in pts] for n, pts in c.items()} for p, c in curves.items()},
    )


def load_curves(session_id: str) -> Curves:
    raw = load(session_id).get("curves")
    out: Curves = {}
    if not isinstance(raw, dict):
        return out
    for probe, named in raw.items():
        if not isinstance(named, dict):
            continue
        try:
            out[probe] = {n: [(float(x), float(y)) for x, y in pts] for n, pts in named.items()}
        except (TypeError, ValueError):
            continue
    return out


def absolute_sources(setup: str | None, demo: str | None, history: str | None) -> dict[str, str]:
    """The sources as given, with files made absolute so a resume from another folder finds them."""
    out: dict[str, str] = {}
    if demo:
        out["demo"] = demo
    if setup:
        target, sep, func = setup.rpartition(":")
        is_file = target.endswith(".py") or "/" in target
        out["setup"] = f"{Path(target).resolve()}:{func}" if sep and is_file else setup
    if history:
        out["history"] = history if "://" in history else str(Path(history).resolve())
    return out
