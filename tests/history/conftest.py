"""Helpers for the history tests: the real histories in tests/data, and small files written per test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import REAL_HISTORIES

DATA = Path(__file__).parent / "data"


def real(fragment: str) -> Path:
    """The one real history whose file name contains `fragment`."""
    matches = [
        p for p in REAL_HISTORIES.glob("*/*") if fragment in p.name and p.suffix != ".md" and p.is_file()
    ]
    assert len(matches) == 1, (fragment, matches)
    return matches[0]


def all_real() -> list[Path]:
    return sorted(p for p in REAL_HISTORIES.glob("*/*") if p.is_file() and p.name != "PROVENANCE.md")


def trainer_state(log: list[dict], **extra: object) -> str:
    """A trainer_state.json as HF writes it (json.dumps writes NaN bare, as HF's json.dump does)."""
    state = {"global_step": max((e.get("step", 0) for e in log), default=0), "log_history": log, **extra}
    return json.dumps(state, indent=2)


def curve(n: int, start: float, end: float) -> list[float]:
    """An exponential fall from start to end over n points."""
    return [end + (start - end) * math.exp(-5 * i / max(1, n - 1)) for i in range(n)]


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write
