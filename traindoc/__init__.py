"""traindoc: diagnose why a neural network trains badly, and measure instead of guessing.

The documented way in::

    from traindoc import Setup, diagnose, measure_curvature

    report = diagnose(Setup(...))           # or diagnose(answers={"train_loss_large": "no", ...})
    print([f.id for f in report.findings])

Names are imported on first use, so `import traindoc` (and the command line) stays light; each first use
checks that traindoc's packages (`assistant`, `rules`, `probes`, `tui`) are its own and raises
`ShadowedPackageError` naming the file that shadows one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from traindoc._packages import ShadowedPackageError, check_packages

__version__ = "0.1.0"

if TYPE_CHECKING:  # the names, for type checkers and editors
    from assistant.client import TraindocClient
    from assistant.errors import InputError, TraindocError
    from assistant.models import Finding, Report
    from assistant.watch import WatchReport, watch
    from probes.base import ProbeError, ProbeOutcome, ProbeProgress
    from probes.measure import measure_curvature
    from probes.setup import Setup, load_setup
    from traindoc._diagnose import diagnose

_EXPORTS = {
    "diagnose": "traindoc._diagnose",
    "Setup": "probes.setup",
    "load_setup": "probes.setup",
    "measure_curvature": "probes.measure",
    "Report": "assistant.models",
    "Finding": "assistant.models",
    "TraindocClient": "assistant.client",
    "TraindocError": "assistant.errors",
    "InputError": "assistant.errors",
    "ProbeError": "probes.base",
    "ProbeOutcome": "probes.base",
    "ProbeProgress": "probes.base",
    "watch": "assistant.watch",  # watch a training loop: docs/watch.md
    "WatchReport": "assistant.watch",
}

__all__ = [
    "Finding",
    "InputError",
    "ProbeError",
    "ProbeOutcome",
    "ProbeProgress",
    "Report",
    "Setup",
    "ShadowedPackageError",
    "TraindocClient",
    "TraindocError",
    "WatchReport",
    "__version__",
    "diagnose",
    "load_setup",
    "measure_curvature",
    "watch",
]

_checked = False


def __getattr__(name: str) -> Any:
    global _checked
    if name not in _EXPORTS:
        raise AttributeError(f"module 'traindoc' has no attribute {name!r}")
    if not _checked:
        check_packages()
        _checked = True
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
