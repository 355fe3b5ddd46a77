"""`traindoc probe NAME --setup FILE.py:FUNC [--json]`: run one probe and print its evidence."""

from __future__ import annotations

import argparse
import os
import sys

from assistant.cli.common import configure_threads
from assistant.errors import InputError
from probes.registry import PROBES

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="run one experiment on your setup and print the evidence")
    probes = p.add_subparsers(dest="probe", metavar="PROBE", required=True, parser_class=type(p))
    for spec in PROBES.values():
        q = probes.add_parser(spec.name, help=spec.description)
        q.add_argument("--setup", metavar="FILE.py:FUNC", help="your training setup")
        q.add_argument("--demo", metavar="NAME", help="a built-in demo setup instead")
        q.add_argument("--json", action="store_true", help="print the result as one JSON object")
        q.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
        options = spec.add_arguments(q)
        q.set_defaults(handler=run, probe_options=options)


def run(args: argparse.Namespace) -> int:
    from assistant.progress import TerminalProgress
    from probes.context import ProbeContext
    from probes.registry import run_probe

    configure_threads()
    if bool(args.setup) == bool(args.demo):
        raise InputError("give one of --setup FILE.py:FUNC or --demo NAME")
    options = args.probe_options(args)
    if "executor" in options or "workers" in options:
        from probes.executor_options import check_executor

        # a bad --executor or --workers: one line before the setup is loaded
        check_executor(options.get("executor"), options.get("workers"))
    if args.demo:
        from probes.demos import demo_setup

        setup = demo_setup(args.demo)
    else:
        from probes.setup import load_checked

        setup = load_checked(args.setup)
    # under torchrun (--distributed) only rank 0 shows progress and prints the result
    quiet = bool(options.get("distributed")) and os.environ.get("RANK", "0") != "0"
    shown = {"auto": None, "always": True, "never": False}[args.progress]
    progress = TerminalProgress(enabled=False if quiet else shown)
    try:
        outcome = run_probe(args.probe, ProbeContext(setup, progress=progress), **options)
    finally:
        progress.close()
        if options.get("distributed"):
            _leave_process_group()
    if quiet:
        return 0
    if args.json:
        import json  # here, not at the top: `traindoc --help` does not need it

        from probes.results import outcome_json

        sys.stdout.write(json.dumps(outcome_json(outcome), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(f"{outcome.summary}\n\n")
        table = getattr(outcome.result, "table", None)
        if table:  # the depth ladder, one "a | b | c" row per line
            sys.stdout.write("\n".join(f"  {row}" for row in table) + "\n\n")
        for rule in outcome.rules:
            sys.stdout.write(f"  - {rule}\n")
        for q, v in outcome.answers.items():
            sys.stdout.write(f"  {q}: {v}\n")
        for w in outcome.warnings:
            sys.stdout.write(f"  warning: {w}\n")
    return 0


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
