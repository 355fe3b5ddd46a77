"""Experiments on the user's own model that answer the flowchart's questions with measurements.

Names are imported lazily so that light users (the CLI's parser, `traindoc schema`) do not pay for
importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers and editors (`__getattr__` would make them Any);
    # `X as X`: a re-export (`__all__` is computed, so linters cannot see it)
    from probes.base import ProbeCancelled as ProbeCancelled
    from probes.base import ProbeError as ProbeError
    from probes.base import ProbeOutcome as ProbeOutcome
    from probes.base import ProbeProgress as ProbeProgress
    from probes.base import ProgressCallback as ProgressCallback
    from probes.base import StopCheck as StopCheck
    from probes.context import ProbeContext as ProbeContext
    from probes.measure import measure_curvature as measure_curvature
    from probes.setup import Setup as Setup
    from probes.setup import check_setup as check_setup
    from probes.setup import load_checked as load_checked
    from probes.setup import load_setup as load_setup
    from probes.training import TrainedModel as TrainedModel
    from probes.training import evaluate_loss as evaluate_loss
    from probes.training import train_model as train_model

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
