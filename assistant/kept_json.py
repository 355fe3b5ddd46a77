"""JSON kept per object, for parts of a reply that never change once made (issue 19).

Why: every change to a session answers with all of its inputs and its whole report, and most of those
parts are the same objects as in the previous reply (answers and inputs are frozen and never changed,
a change is a new one; questions and evidence-free findings are frozen and shared). pydantic-core pays
a fixed cost per model it serialises, so serialising each part once and joining the bytes costs less
than serialising the whole again (assistant/store.py, assistant/api/report_bytes.py).

Keyed by identity, each entry holding its object, so an id is not reused while its entry lives.
Bounded: cleared when full (the working set is the parts of the sessions being answered).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class KeptJSON:
    """`dump(part)`, computed once per part object."""

    __slots__ = ("_kept", "_most")

    def __init__(self, most: int) -> None:
        self._kept: dict[int, tuple[object, bytes]] = {}
        self._most = most

    def __call__(self, part: Any, dump: Callable[[Any], bytes]) -> bytes:
        hit = self._kept.get(id(part))
        if hit is not None and hit[0] is part:
            return hit[1]
        body = dump(part)
        if len(self._kept) >= self._most:
            self._kept.clear()
        self._kept[id(part)] = (part, body)
        return body
