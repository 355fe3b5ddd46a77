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
import re
import sys

ORDER = 90

# the kinds shipped as files; openapi is built from the service's routes when asked
FILE_KINDS = ("report", "message", "event", "probes")


def schema_file(kind: str) -> str:
    """Where the shipped schema of `kind` lives (in the installed `traindoc` package). os.path, not
    pathlib or importlib.resources: either costs this command more than reading the file."""
    import traindoc  # light: its names are imported on first use

    return os.path.join(os.path.dirname(traindoc.__file__ or ""), "schemas", f"{kind}.json")


def schema_file_version() -> str | None:
    """The pydantic version the shipped files were generated with (traindoc/schemas/pydantic.json)."""
    try:
        with open(schema_file("pydantic"), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    match = re.search(r'"pydantic":\s*"([^"]+)"', text)
    return match.group(1) if match else None


def installed_pydantic() -> str | None:
    """The installed pydantic's version, read from its version.py without importing pydantic (a
    pydantic release may write a schema differently: the shipped files are then not what the models
    generate here, and the command generates instead)."""
    import importlib.util

    spec = importlib.util.find_spec("pydantic")
    if spec is None or spec.origin is None:
        return None
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py"), encoding="utf-8") as f:
            match = re.search(r"^VERSION = ['\"]([^'\"]+)['\"]", f.read(), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


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
    text = None
    version = schema_file_version()
    if version is not None and version == installed_pydantic():
        try:
            with open(schema_file(args.kind), encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            pass
    if text is None:  # no package data, or another pydantic: still the right answer, slower
        from assistant.cli.gen_schemas import schema_text

        text = schema_text(args.kind)
    sys.stdout.write(text)
    return 0
