"""Experiments on the user's own model that answer the flowchart's questions with measurements.

Names are imported lazily so that light users (the CLI's parser, `traindoc schema`) do not pay for
importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ProbeCancelled": "probes.base",
    "ProbeError": "probes.base",
    "ProbeOutcome": "probes.base",
    "ProbeProgress": "probes.base",
    "ProgressCallback": "probes.base",
    "StopCheck": "probes.base",
    "ProbeContext": "probes.context",
    "measure_curvature": "probes.measure",
    "Setup": "probes.setup",
    "load_setup": "probes.setup",
    "load_checked": "probes.setup",
    "check_setup": "probes.setup",
    "TrainedModel": "probes.training",
    "evaluate_loss": "probes.training",
    "train_model": "probes.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'probes' has no attribute {name!r}")


# marks this folder as traindoc's own package (checked at start-up: traindoc/_packages.py)
__traindoc__ = True
