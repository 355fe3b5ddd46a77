"""The curvature measurement, in one subpackage (issue 13).

| module | holds |
| --- | --- |
| `options` | `CurvatureOptions`: every option, declared once (probe, notebook API, CLI, service bounds) |
| `hessian` | `HessianOperator`, `PiecewiseHessianOperator`, `lanczos`, `exact_spectrum`, spectrum shares |
| `measure` | `measure_curvature(model, loss_fn, data, ...)`: the measurement, usable from a notebook |
| `report` | the result types (`CurvatureMeasurement`, `EscapeMeasurement`) and the rules in words |
| `spectrum` | `per_layer` and `spectral_density` (SLQ, Hutchinson trace) |
| `distributed` | `DistributedHessianOperator` (torch.distributed) and the torchrun entry |
| `ray_executor` | `RayHessianOperator`: the products on Ray actors (`--executor ray`) |
| `probe` | `curvature_probe(ctx, ...)`: what the CLI, the service and the diagnosis run |

Names are imported lazily: the CLI's parser reads `probes.curvature.options` without torch. The old
flat modules (`probes.hessian`, `probes.measure`, `probes.curvature_report`, `probes.spectrum`,
`probes.distributed`) are aliases of these and keep working.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probes.curvature.measure import measure_curvature
    from probes.curvature.options import CurvatureOptions
    from probes.curvature.probe import answers, curvature_probe, step_rule, summary
    from probes.curvature.report import CurvatureMeasurement, EscapeMeasurement

_EXPORTS = {
    "CurvatureOptions": "probes.curvature.options",
    "measure_curvature": "probes.curvature.measure",
    "CurvatureMeasurement": "probes.curvature.report",
    "EscapeMeasurement": "probes.curvature.report",
    "curvature_probe": "probes.curvature.probe",
    "answers": "probes.curvature.probe",
    "step_rule": "probes.curvature.probe",
    "summary": "probes.curvature.probe",
}

__all__ = [
    "CurvatureMeasurement",
    "CurvatureOptions",
    "EscapeMeasurement",
    "answers",
    "curvature_probe",
    "measure_curvature",
    "step_rule",
    "summary",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'probes.curvature' has no attribute {name!r}")
