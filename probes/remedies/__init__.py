"""Try the lecture's remedies on the user's own setup and measure what each one does.

`try_remedies(ctx, findings)` -> `RemedyReport`; `remedies_probe` is the registry's entry.
Imported lazily: `probes.remedies.result` (pydantic only) can be used without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers and editors (`__getattr__` would make them Any);
    # `X as X`: a re-export (`__all__` is computed, so linters cannot see it)
    from probes.remedies.result import Losses as Losses
    from probes.remedies.result import RemedyReport as RemedyReport
    from probes.remedies.result import RemedyResult as RemedyResult
    from probes.remedies.run import remedies_probe as remedies_probe
    from probes.remedies.run import try_remedies as try_remedies

_EXPORTS = {
    "RemedyReport": "probes.remedies.result",
    "RemedyResult": "probes.remedies.result",
    "Losses": "probes.remedies.result",
    "try_remedies": "probes.remedies.run",
    "remedies_probe": "probes.remedies.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'probes.remedies' has no attribute {name!r}")
