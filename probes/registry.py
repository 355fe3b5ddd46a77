"""Probes by name, so the CLI, the service and the automatic diagnosis can run any of them.

Each entry names the module and function (imported on first use, so `traindoc schema` never pays
for torch-heavy imports it does not need) and the questions the probe can answer.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # probes.base costs pydantic: the CLI's parser reads this table without it
    from probes.base import ProbeOutcome
    from probes.context import ProbeContext


@dataclass(frozen=True)
class ProbeOption:
    name: str  # the probe function's keyword; the CLI flag is --name-with-dashes
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    target: str  # "module:function"; the function takes (ProbeContext, **options) -> ProbeOutcome
    answers: tuple[str, ...]
    description: str
    # keyword options of the probe function, declared here so the CLI can offer them without
    # importing torch-heavy modules at start-up
    options: tuple[ProbeOption, ...] = ()

    def function(self) -> Callable[..., ProbeOutcome]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def add_arguments(
        self, parser: argparse.ArgumentParser
    ) -> Callable[[argparse.Namespace], dict[str, Any]]:
        for opt in self.options:
            flag = "--" + opt.name.replace("_", "-")
            if opt.type is bool:
                parser.add_argument(flag, dest=opt.name, action="store_true", help=opt.help)
            else:
                parser.add_argument(
                    flag,
                    dest=opt.name,
                    type=opt.type,
                    default=None,
                    choices=opt.choices,
                    help=f"{opt.help} (default: {opt.default})",
                )
        names = [opt.name for opt in self.options]
        # only options the user gave: the probe's own defaults stay the single source of truth
        return lambda args: {n: getattr(args, n) for n in names if getattr(args, n) not in (None, False)}


PROBES: dict[str, ProbeSpec] = {
    spec.name: spec
    for spec in (
        ProbeSpec(
            "baselines",
            "probes.baselines:baselines_probe",
            ("train_loss_large",),
            "training loss against the trivial predictor, an easy reference model and your target",
        ),
        ProbeSpec(
            "depth",
            "probes.depth:depth_probe",
            ("deeper_model_worse", "simple_model_better"),
            "train shallower and deeper variants with the same recipe and compare training losses",
            options=(
                ProbeOption(
                    "depths", str, "around the setup's depth", "comma-separated depth ladder, e.g. 1,2,3,4,5"
                ),
                ProbeOption("seeds", int, 2, "seeds per depth"),
            ),
        ),
        ProbeSpec(
            "curvature",
            "probes.curvature:curvature_probe",
            ("gradient_norm_small", "hessian_negative_eigenvalue", "learning_rate_exceeds_stability"),
            "gradient norm and the Hessian's extreme eigenvalues where training stopped",
            options=(
                ProbeOption("samples", int, 2048, "training samples used for the gradient and the Hessian"),
                ProbeOption("mode", str, "eval", "model mode for the measurement", ("train", "eval")),
                ProbeOption("gradient_threshold", float, 1e-3, "gradient norm below this counts as zero"),
                ProbeOption(
                    "negative_threshold",
                    float,
                    1e-3,
                    "lambda_min below -this*|lambda_max| is clearly negative",
                ),
                ProbeOption("max_hvp", int, 60, "Hessian-vector products Lanczos may spend"),
                ProbeOption("exact_limit", int, 2000, "use the exact Hessian up to this many parameters"),
                ProbeOption("tolerance", float, 1e-2, "Lanczos relative tolerance on its error estimate"),
            ),
        ),
        ProbeSpec(
            "generalization",
            "probes.generalization:generalization_probe",
            ("test_loss_large", "val_loss_large"),
            "train/validation/test losses and a train-vs-test distribution check",
        ),
    )
}


def run_probe(name: str, ctx: ProbeContext, **options: Any) -> ProbeOutcome:
    from probes.base import ProbeError

    if name not in PROBES:
        raise ProbeError(f"unknown probe {name!r} (known: {', '.join(PROBES)})", field="probe")
    return PROBES[name].function()(ctx, **options)


def probe_for(question: str) -> str | None:
    for spec in PROBES.values():
        if question in spec.answers:
            return spec.name
    return None
