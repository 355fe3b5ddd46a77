"""`traindoc demos`: the built-in demo setups, one line each, with the finding each one reproduces."""

from __future__ import annotations

import argparse
import sys

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demos", help="list the built-in demos (run one with `traindoc diagnose --demo NAME`)")
    p.add_argument("--json", action="store_true", help="print the list as one JSON array")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from probes.demos import DEMOS  # torch is imported only when the command runs

    if args.json:
        rows = [{"name": d.name, "summary": d.summary, "expected": list(d.expected)} for d in DEMOS.values()]
        import json  # here, not at the top: `traindoc --help` does not need it

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    width = max(len(name) for name in DEMOS)
    for demo in DEMOS.values():
        sys.stdout.write(f"{demo.name:<{width}}  {demo.summary} -> {', '.join(demo.expected)}\n")
    sys.stdout.write("\nRun one: traindoc diagnose --demo NAME\n")
    return 0
