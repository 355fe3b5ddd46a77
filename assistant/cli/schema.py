"""`traindoc schema`: the JSON Schema of the report (or of the line protocol's messages and events)."""

from __future__ import annotations

import argparse
import json
import sys

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the report")
    p.add_argument(
        "--kind",
        choices=("report", "message", "event"),
        default="report",
        help="report (default), or the chat protocol's message/event",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import TypeAdapter

    from assistant.models import ChatEvent, ChatMessage, Report

    schema = {
        "report": lambda: Report.model_json_schema(),
        "message": lambda: TypeAdapter(ChatMessage).json_schema(),
        "event": lambda: TypeAdapter(ChatEvent).json_schema(),
    }[args.kind]()
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return 0
