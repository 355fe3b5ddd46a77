"""What the TUI keeps about a session for `--resume` beyond its answers: the sources it was started
with (setup / demo / history, as the user gave them, made absolute) and the curves watched live
(probe results store numbers, not curves).

The curves are kept in the service with the session (PUT/GET /sessions/{id}/curves), so a session
resumed on another machine against the same `traindoc serve` draws them again; `to_service` and
`from_service` convert. The sources stay in one small JSON file per session under
$TRAINDOC_HOME/tui-sessions/ on the user's machine (file paths are that machine's). Curves in those
files (written before the service kept them, or when a service without the endpoint refused them)
are still read. Unreadable files are ignored: losing this loses a convenience, never an answer.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from assistant.service_models import SessionCurves

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


MAX_POINTS_PER_CURVE = 400  # a card's plot is a few dozen columns wide; the export thins to 400 too
MAX_POINTS = 4000  # all curves together: ~150 KB of JSON, inside the service's default 256 KiB body limit


def to_service(curves: Curves) -> SessionCurves:
    """The curves as the service keeps them: finite points only (a diverged loss's NaN is not a
    point), each curve thinned evenly (its last point kept) so that all fit one request."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    count = sum(len(named) for named in curves.values())
    limit = max(2, min(MAX_POINTS_PER_CURVE, MAX_POINTS // max(count, 1)))
    for probe, named in curves.items():
        for name, points in named.items():
            finite = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
            if len(finite) > limit:
                step = len(finite) / limit
                finite = [finite[int(i * step)] for i in range(limit - 1)] + [finite[-1]]
            if finite:
                out.setdefault(probe, {})[name] = finite
    return SessionCurves(curves=out)


def from_service(stored: SessionCurves) -> Curves:
    return {
        p: {n: [(float(x), float(y)) for x, y in pts] for n, pts in c.items()}
        for p, c in stored.curves.items()
    }


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
