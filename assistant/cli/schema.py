"""`traindoc schema`: the JSON Schema of the report (or of the line protocol's messages and events, of
every probe's result, or the service's OpenAPI document).

The report, message, event and probes schemas are shipped as files (traindoc/schemas/KIND.json,
package data) generated from the pydantic models by `python -m assistant.cli.gen_schemas`, and
printed from there: this command then imports no pydantic (0.2 s of CPU, docs/startup.md). The models
stay the one home of the schema: a test regenerates every file and fails when one differs.
"""

from __future__ import annotations

import argparse
import os
import sys

ORDER = 90

# the kinds shipped as files; openapi is built from the service's routes when asked
FILE_KINDS = ("report", "message", "event", "probes")


def schema_file(kind: str) -> str:
    """Where the shipped schema of `kind` lives (in the installed `traindoc` package). os.path, not
    pathlib or importlib.resources: either costs this command more than reading the file."""
    import traindoc  # light: its names are imported on first use

    return os.path.join(os.path.dirname(traindoc.__file__ or ""), "schemas", f"{kind}.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the report")
    p.add_argument(
        "--kind",
        choices=(*FILE_KINDS, "openapi"),
        default="report",
        help="report (default), the chat protocol's message/event, probes (each probe's result: the "
        "`data` of `traindoc probe NAME --json`), or openapi (the service's API)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.kind == "openapi":  # only this kind imports the service (fastapi)
        import json

        from assistant.api.app import create_app
        from assistant.api.settings import build_settings

        # the document is built from the routes alone: nothing is opened or served
        sys.stdout.write(json.dumps(create_app(build_settings()).openapi(), indent=2) + "\n")
        return 0
    try:
        with open(schema_file(args.kind), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:  # an install without its package data: still the right answer, slower
        from assistant.cli.gen_schemas import schema_text

        text = schema_text(args.kind)
    sys.stdout.write(text)
    return 0
