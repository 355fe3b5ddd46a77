"""Reading an answers file: a JSON object {"question_id": "yes" | "no" | "unsure", ...}."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import InputError
from assistant.session import validate_answer

MAX_BYTES = 1_000_000


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out and out[key] != value:
            raise InputError(f"contradictory answers for {key}: {out[key]!r} and {value!r}", field=key)
        out[key] = value
    return out


def parse_answers(text: str, origin: str = "answers") -> dict[str, str]:
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{origin} must be a JSON object of question id -> yes/no/unsure, not {type(data).__name__}"
        )
    return {qid: validate_answer(qid, value) for qid, value in data.items()}


def read_answers(path: str) -> dict[str, str]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"answers file not found: {path}")
    if p.is_dir():
        raise InputError(f"answers file is a directory: {path}")
    if p.stat().st_size > MAX_BYTES:
        raise InputError(f"answers file is too large ({p.stat().st_size} bytes; limit {MAX_BYTES})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"answers file is not UTF-8 text: {path}") from None
    return parse_answers(text, origin=f"answers file {path}")
