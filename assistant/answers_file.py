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


def _small_int(text: str) -> int:
    # a 100,000-digit number would hit Python's int-conversion limit (a ValueError deep in json)
    if len(text) > 30:
        raise InputError("an answers file holds yes/no/unsure, not a number of more than 30 digits")
    return int(text)


MAX_DEPTH = 32  # an answers file is flat; deeper nesting is refused before parsing


def _too_deep(text: str) -> bool:
    """Nesting deeper than MAX_DEPTH, brackets inside strings not counted. Checked by hand because the
    parser's own limit differs between Pythons (3.11 raises RecursionError at ~1,000 levels, 3.13
    parses 5,000): the refusal must be the same everywhere."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_answers(text: str, origin: str = "answers") -> dict[str, str]:
    if _too_deep(text):
        raise InputError(f"{origin} is nested too deeply: it must be a flat JSON object")
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_int=_small_int)
    except RecursionError:  # 5,000-deep nesting: Python's parser recurses per level
        raise InputError(f"{origin} is nested too deeply: it must be a flat JSON object") from None
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
    try:
        # read at most one byte past the limit, whatever size the file reports: /dev/zero, a FIFO or
        # a file in /proc report a size of 0 and never end
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read answers file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"answers file is too large (more than {MAX_BYTES} bytes): {path}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"answers file is not UTF-8 text: {path}") from None
    return parse_answers(text, origin=f"answers file {path}")
