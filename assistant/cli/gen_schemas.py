"""Regenerate the shipped JSON Schemas (traindoc/schemas/KIND.json) from the pydantic models.

    python -m assistant.cli.gen_schemas          # rewrite the files that differ
    python -m assistant.cli.gen_schemas --check  # exit 1 naming the files that differ (CI, tests)

The models are the one home of the schema; the files are derived, so `traindoc schema` can print
them without importing pydantic. tests/public/test_startup.py fails when a file is stale: after
changing a model (assistant/models.py, probes/results.py), run this and commit the files.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from assistant.cli.schema import FILE_KINDS, schema_file


def _report() -> dict[str, Any]:
    from assistant.models import Report

    return Report.model_json_schema()


def _message() -> dict[str, Any]:
    from pydantic import TypeAdapter

    from assistant.models import ChatMessage

    return TypeAdapter(ChatMessage).json_schema()


def _event() -> dict[str, Any]:
    from pydantic import TypeAdapter

    from assistant.models import ChatEvent

    return TypeAdapter(ChatEvent).json_schema()


def _probes() -> dict[str, Any]:
    from probes.results import results_schema

    return results_schema()


GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "report": _report,
    "message": _message,
    "event": _event,
    "probes": _probes,
}
assert tuple(GENERATORS) == FILE_KINDS, "every shipped kind has its generator"


def schema_text(kind: str) -> str:
    """The exact text `traindoc schema --kind KIND` prints, generated from the models now."""
    import json  # here: the CLI imports this module (for `register`) at every start

    return json.dumps(GENERATORS[kind](), indent=2) + "\n"


def shipped_text(kind: str) -> str | None:
    """The shipped file's text, None when it is missing."""
    try:
        with open(schema_file(kind), encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None


def version_text() -> str:
    """traindoc/schemas/pydantic.json: the pydantic version the files were generated with; `traindoc
    schema` prints the files only under that version (another may write a schema differently)."""
    import pydantic

    return '{"pydantic": "' + pydantic.VERSION + '"}\n'


def stale_kinds() -> list[str]:
    """The kinds whose shipped file differs from what the models generate now (or is missing), and
    "pydantic" when the recorded version is not the installed one."""
    stale = [kind for kind in FILE_KINDS if shipped_text(kind) != schema_text(kind)]
    if shipped_text("pydantic") != version_text():
        stale.append("pydantic")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    opts = parser.parse_args(argv)
    stale = stale_kinds()
    if opts.check:
        for kind in stale:
            sys.stderr.write(f"stale: {schema_file(kind)} (run python -m assistant.cli.gen_schemas)\n")
        return 1 if stale else 0
    for kind in stale:
        path = schema_file(kind)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(version_text() if kind == "pydantic" else schema_text(kind))
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
