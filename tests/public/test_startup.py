"""Commands import only what they use (issue 19): help, schema and `diagnose --answers` never load torch,
httpx, fastapi, uvicorn, textual or numpy; help and schema load no pydantic and no rule engine either
(schema prints the shipped files of traindoc/schemas/, checked here against the models).

Ground truth: `sys.modules` of the real command, run in a fresh interpreter. Times are not asserted
(they go in benchmarks/bench_startup.py and the README); which modules load is what decides them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli.schema import FILE_KINDS
from tests.conftest import REPO

HEAVY = ("torch", "numpy", "httpx", "fastapi", "starlette", "uvicorn", "textual", "rich", "durable")
PROBE = """
import json, sys
from traindoc.__main__ import main
try:
    code = main({args!r})
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\nLOADED " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def run_probe(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """The command's stdout and the modules it loaded, in a fresh interpreter."""
    code = PROBE.format(args=list(args), heavy=(*HEAVY, "pydantic", "rules", "probes"))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    out, line = proc.stdout.rsplit("LOADED ", 1)
    return out, set(json.loads(line))


def loaded_modules(*args: str, env: dict[str, str] | None = None) -> set[str]:
    return run_probe(*args, env=env)[1]


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    return {m.split(".")[0] for m in loaded_modules(*args, env=env)}


# the knowledge base itself; `rules.judgements` (the probes' option defaults) is plain constants
KNOWLEDGE_MODULES = {"rules.schema", "rules.questions", "rules.findings", "rules.flowchart"}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["diagnose", "--help"],
        ["probe", "curvature", "--help"],
        ["serve", "--help"],
        ["--version"],
    ],
)
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    modules = loaded_modules(*args)
    found = {m.split(".")[0] for m in modules}
    assert not found & {*HEAVY, "pydantic"}, found
    assert not modules & KNOWLEDGE_MODULES, modules


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_schema_loads_no_pydantic(kind: str) -> None:
    """The report, message, event and probes schemas are printed from the shipped files
    (traindoc/schemas/): no pydantic, no model, no probe result module — where the installed pydantic
    is the one the files were generated with; under another one the schema is generated from the
    models on purpose (a newer pydantic may write another schema), tested below."""
    from assistant.cli.schema import installed_pydantic, schema_file_version

    modules = loaded_modules("schema", "--kind", kind)
    found = {m.split(".")[0] for m in modules}
    if schema_file_version() != installed_pydantic():
        assert not found & set(HEAVY), found  # still nothing of torch, httpx, textual, fastapi...
        pytest.skip(
            f"the files were generated with pydantic {schema_file_version()}, this is "
            f"{installed_pydantic()}: `traindoc schema` imports pydantic here by design"
        )
    assert not found & {*HEAVY, "pydantic"}, found
    assert "probes.results" not in modules and not modules & KNOWLEDGE_MODULES, modules


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_shipped_schema_is_what_the_models_generate(kind: str) -> None:
    """The models are the one home of the schema, the file is derived: regenerated here from the
    pydantic models (Report.model_json_schema() etc.), it must be the shipped file byte for byte.
    When this fails after a model changed: `python -m assistant.cli.gen_schemas` and commit."""
    from assistant.cli.gen_schemas import schema_text, shipped_text
    from assistant.cli.schema import installed_pydantic, schema_file_version

    if schema_file_version() != installed_pydantic():
        pytest.skip(
            f"the files were generated with pydantic {schema_file_version()}, this is "
            f"{installed_pydantic()}: `traindoc schema` generates from the models here (tested below)"
        )
    assert shipped_text(kind) == schema_text(kind), (
        f"traindoc/schemas/{kind}.json is stale: run python -m assistant.cli.gen_schemas and commit it"
    )


def test_schema_without_its_file_is_generated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An install that lost its package data still prints the right schema (from the models)."""
    from assistant.cli import main, schema
    from assistant.models import Report

    monkeypatch.setattr(schema, "schema_file", lambda kind: str(tmp_path / f"{kind}.json"))
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == Report.model_json_schema()


def test_report_commands_do_not_build_the_probe_result_models(tmp_path: Path) -> None:
    """The result models are only for commands that show a probe's result."""
    answers = tmp_path / "answers.json"
    answers.write_text('{"train_loss_large": "no", "test_loss_large": "no"}')
    assert "probes.results" not in loaded_modules("schema")
    assert "probes.results" not in loaded_modules("diagnose", "--answers", str(answers), "--json")


def test_diagnose_answers_loads_the_engine_but_nothing_for_measuring(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text('{"train_loss_large": "no", "test_loss_large": "no"}')
    found = loaded("diagnose", "--answers", str(answers), "--json")
    assert {"pydantic", "rules"} <= found
    assert not found & (set(HEAVY) - {"durable"}), found


def test_the_python_engine_does_not_load_durable(tmp_path: Path) -> None:
    """durable is imported when its engine is chosen: with TRAINDOC_ENGINE=python it never loads, and
    the report is still built (the default engine stays durable-rules where it imports)."""
    answers = tmp_path / "answers.json"
    answers.write_text('{"train_loss_large": "no", "test_loss_large": "no"}')
    out, modules = run_probe(
        "diagnose", "--answers", str(answers), "--json", env={"TRAINDOC_ENGINE": "python"}
    )
    found = {m.split(".")[0] for m in modules}
    assert "pydantic" in found and "durable" not in found, found
    report = json.loads(out)
    # both losses small: the flowchart's last leaf, the model trains and generalizes (done)
    assert report["engine"] == "python" and [f["id"] for f in report["findings"]] == ["healthy"], report


def test_installed_pydantic_is_read_without_importing_it() -> None:
    """The version `schema` compares with the files' is pydantic's own (pydantic.VERSION)."""
    import pydantic

    from assistant.cli.schema import installed_pydantic

    assert installed_pydantic() == pydantic.VERSION


def test_schema_under_another_pydantic_is_generated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under a pydantic other than the files' (a user upgraded it; CI resolved a newer one) the
    shipped files may no longer be what the models generate: the command generates them."""
    from assistant.cli import main, schema
    from assistant.models import Report

    monkeypatch.setattr(schema, "installed_pydantic", lambda: "0.0.0")
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == Report.model_json_schema()
