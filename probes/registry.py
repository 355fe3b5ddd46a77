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

from probes.curvature.options import front_end_options
from probes.executor_options import EXECUTOR_HELP, LOCAL, WORKERS_HELP, WORKERS_SHOWN_DEFAULT

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
    # words accepted besides a value of `type` (e.g. samples: a count or "all")
    words: tuple[str, ...] = ()
    # the default when a user runs this probe on its own (`traindoc probe NAME`), if it differs from
    # the probe function's default (what the automatic diagnosis gets)
    explicit_default: Any = None
    shown_default: str | None = None  # how --help states a default that depends on other options

    def parse(self, text: str) -> Any:
        """A command-line value: one of `words`, or a value of `type`."""
        if text.strip().lower() in self.words:
            return text.strip().lower()
        try:
            return self.type(text)
        except ValueError:
            expected = " or ".join([self.type.__name__, *(repr(w) for w in self.words)])
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    target: str  # "module:function"; the function takes (ProbeContext, **options) -> ProbeOutcome
    description: str
    # keyword options of the probe function, declared here so the CLI can offer them without
    # importing torch-heavy modules at start-up
    options: tuple[ProbeOption, ...] = ()

    @property
    def answers(self) -> tuple[str, ...]:
        """The questions this probe can answer: the questions' own `measured_by` (rules/questions.py,
        the one question->probe map), read on use so that `traindoc --help` loads no knowledge base."""
        from rules.questions import answered_by

        return answered_by(self.name)

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
                default = opt.default if opt.explicit_default is None else opt.explicit_default
                default = opt.shown_default or default
                parser.add_argument(
                    flag,
                    dest=opt.name,
                    type=opt.parse if opt.words else opt.type,
                    default=None,
                    choices=opt.choices,
                    help=f"{opt.help} (default: {default})",
                )
        names = [opt.name for opt in self.options]
        explicit = {
            opt.name: opt.explicit_default for opt in self.options if opt.explicit_default is not None
        }

        # only options the user gave (and the explicit-run defaults): the probe's own defaults stay
        # the single source of truth for everything else
        def given(args: argparse.Namespace) -> dict[str, Any]:
            # `is`, not `in`: 0 == False, and a user's 0 (e.g. --samples 0) must reach the check
            chosen = {n: v for n in names if (v := getattr(args, n)) is not None and v is not False}
            return {**explicit, **chosen}

        return given


def curvature_options() -> tuple[ProbeOption, ...]:
    """The curvature probe's flags, read from its one declaration (`CurvatureOptions`)."""
    return tuple(
        ProbeOption(
            f.name,
            f.metadata["cli_type"],
            f.default,
            f.metadata["help"],
            f.metadata.get("choices"),
            f.metadata.get("words", ()),
            f.metadata.get("explicit_default"),
            f.metadata.get("shown_default"),
        )
        for f in front_end_options()
    )


def executor_options(*, workers: bool = True) -> tuple[ProbeOption, ...]:
    """--executor and --workers of the probes that train (probes/executor_options.py: words and check)."""
    executor = ProbeOption("executor", str, LOCAL, EXECUTOR_HELP)
    if not workers:
        return (executor,)
    return (executor, ProbeOption("workers", int, None, WORKERS_HELP, shown_default=WORKERS_SHOWN_DEFAULT))


PROBES: dict[str, ProbeSpec] = {
    spec.name: spec
    for spec in (
        ProbeSpec(
            "baselines",
            "probes.baselines:baselines_probe",
            "training loss against the trivial predictor, an easy reference model and your target",
        ),
        ProbeSpec(
            "depth",
            "probes.depth:depth_probe",
            "train shallower and deeper variants with the same recipe and compare training losses",
            options=(
                ProbeOption(
                    "depths", str, "around the setup's depth", "comma-separated depth ladder, e.g. 1,2,3,4,5"
                ),
                ProbeOption("seeds", int, 2, "seeds per depth"),
                *executor_options(),
            ),
        ),
        ProbeSpec(
            "curvature",
            "probes.curvature:curvature_probe",
            "gradient norm and the Hessian's extreme eigenvalues where training stopped",
            options=curvature_options(),
        ),
        ProbeSpec(
            "learning_rate",
            "probes.learning_rate:learning_rate_probe",
            "sharpness at initialization and at the last sane point against the learning rate's stability limit",
            options=(
                ProbeOption("samples", int, 1024, "training samples used for the Hessian"),
                ProbeOption("max_hvp", int, 40, "Hessian-vector products Lanczos may spend per point"),
                ProbeOption("tolerance", float, 1e-2, "Lanczos relative tolerance on lambda_max"),
            ),
        ),
        ProbeSpec(
            "generalization",
            "probes.generalization:generalization_probe",
            "train/validation/test losses and a train-vs-test distribution check",
            options=executor_options(),
        ),
        ProbeSpec(
            "remedies",
            "probes.remedies.run:remedies_probe",
            "try the lecture's remedies for the findings on your setup and measure before and after",
            options=(
                ProbeOption("findings", str, "", "comma-separated finding ids to treat, e.g. overfitting"),
                ProbeOption("workers", int, 1, "trials run in parallel threads"),
                *executor_options(workers=False),  # --workers above: trials at once, here or on Ray
            ),
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
