"""`traindoc remedies --setup FILE.py:FUNC [--json]`: try the lecture's remedies on your setup.

traindoc remedies --demo overfitting                     # diagnose, then try what the findings suggest
traindoc remedies --setup my.py:setup --findings overfitting --json
"""

from __future__ import annotations

import argparse
import sys

from assistant.cli.common import add_executor_arguments, configure_threads, executor_choice
from assistant.errors import InputError
from assistant.progress import TerminalProgress

ORDER = 35


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remedies", help="try the remedies for what is wrong and measure before/after")
    p.add_argument("--setup", metavar="FILE.py:FUNC", help="your training setup")
    p.add_argument("--demo", metavar="NAME", help="a built-in demo setup instead")
    p.add_argument(
        "--findings",
        metavar="IDS",
        help="comma-separated finding ids to treat (default: diagnose first and treat what is found)",
    )
    p.add_argument("--workers", type=int, default=1, help="trials run in parallel threads (default: 1)")
    add_executor_arguments(p, workers=False)  # --workers above: trials at once, here or on Ray
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(handler=run)


def load(args: argparse.Namespace):  # noqa: ANN201 (probes.setup.Setup, imported lazily)
    if bool(args.setup) == bool(args.demo):
        raise InputError("give one of --setup FILE.py:FUNC or --demo NAME")
    if args.demo:
        from probes.demos import demo_setup

        return demo_setup(args.demo)
    from probes.setup import load_setup

    return load_setup(args.setup)


def run(args: argparse.Namespace) -> int:
    from assistant.remedies import diagnose_and_treat, remedies_markdown
    from probes.context import ProbeContext

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1 (got {args.workers})")
    findings = None
    if args.findings is not None:
        findings = [f.strip() for f in args.findings.split(",") if f.strip()]
        if not findings:
            raise InputError("--findings needs at least one finding id, e.g. --findings overfitting")
    executor = executor_choice(args)
    configure_threads()
    setup = load(args)
    progress = TerminalProgress(enabled={"auto": None, "always": True, "never": False}[args.progress])
    try:
        ctx = ProbeContext(setup, progress=progress, executor=executor)
        _, report = diagnose_and_treat(ctx, findings, workers=args.workers)
    finally:
        progress.close()
    if args.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(remedies_markdown(report))
    return 0
