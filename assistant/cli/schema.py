"""`traindoc schema`: the JSON Schema of the report (or of the line protocol's messages and events, of
every probe's result, or the service's OpenAPI document)."""

from __future__ import annotations

import argparse
import json
import sys

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the report")
    p.add_argument(
        "--kind",
        choices=("report", "message", "event", "probes", "openapi"),
        default="report",
        help="report (default), the chat protocol's message/event, probes (each probe's result: the "
        "`data` of `traindoc probe NAME --json`), or openapi (the service's API)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.kind == "probes":  # only this kind builds the probe result models
        from probes.results import results_schema

        return _write(results_schema())
    if args.kind == "openapi":  # only this kind imports the service (fastapi)
        from assistant.api.app import create_app
        from assistant.api.settings import build_settings

        # the document is built from the routes alone: nothing is opened or served
        return _write(create_app(build_settings()).openapi())
    from pydantic import TypeAdapter

    from assistant.models import ChatEvent, ChatMessage, Report

    schema = {
        "report": lambda: Report.model_json_schema(),
        "message": lambda: TypeAdapter(ChatMessage).json_schema(),
        "event": lambda: TypeAdapter(ChatEvent).json_schema(),
    }[args.kind]()
    return _write(schema)


def _write(schema: dict) -> int:
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return 0
