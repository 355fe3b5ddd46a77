"""The headless JSON mode, the schema and the line protocol, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import assert_one_line_error, run_cli
from tests.core.test_flowchart import LEAVES


@pytest.fixture(scope="module")
def report_schema() -> dict:
    run = run_cli("schema")
    assert run.code == 0
    return json.loads(run.stdout)


@pytest.mark.parametrize(("answers", "findings", "pending"), LEAVES[:8])
def test_diagnose_json_validates_and_reaches_leaf(
    tmp_path: Path, report_schema, answers, findings, pending
) -> None:
    f = tmp_path / "answers.json"
    f.write_text(json.dumps(answers))
    run = run_cli("diagnose", "--answers", str(f), "--json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)  # exactly one JSON document on stdout
    jsonschema.validate(data, report_schema)
    assert {x["id"] for x in data["findings"]} == findings
    assert {x["id"] for x in data["pending"]} == pending
    for qid, value in answers.items():
        assert data["answers"][qid]["value"] == value and data["answers"][qid]["source"] == "user"
    for finding in data["findings"]:
        assert finding["title"] and finding["explanation"] and finding["remedies"] and finding["because"]
    for q in data["pending"]:
        assert q["text"] and q["choices"] == ["yes", "no", "unsure"] and "probe" in q


def test_diagnose_human_output(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps(LEAVES[5][0]))
    run = run_cli("diagnose", "--answers", str(f))
    assert run.code == 0
    assert "Overfitting" in run.stdout and "What to try" in run.stdout


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"train_loss_large": "yes"', ("not valid JSON",)),
        ("[1, 2]", ("must be a JSON object",)),
        ('{"bogus": "yes"}', ("unknown question id 'bogus'",)),
        ('{"train_loss_large": "perhaps"}', ("train_loss_large", "yes, no, unsure")),
        ('{"train_loss_large": "no", "deeper_model_worse": "yes"}', ("deeper_model_worse is not asked",)),
        ('{"train_loss_large": "no", "train_loss_large": "yes"}', ("contradictory",)),
        ("\x00\x01\xff", ("not",)),
    ],
)
def test_diagnose_bad_answers_file(tmp_path: Path, content: str, needles) -> None:
    f = tmp_path / "bad.json"
    f.write_bytes(content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content)
    assert_one_line_error(run_cli("diagnose", "--answers", str(f), "--json"), *needles)


def test_diagnose_missing_file_and_bad_flags(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("diagnose", "--answers", str(tmp_path / "nope.json")), "not found")
    assert_one_line_error(run_cli("diagnose", "--bogus"), "unrecognized arguments")


def test_chat_jsonl_conversation() -> None:
    lines = [
        {"type": "answer", "question": "train_loss_large", "value": "no"},
        {"type": "answer", "question": "test_loss_large", "value": "yes"},
        {"type": "answer", "question": "val_loss_large", "value": "no"},
        {"type": "change", "question": "val_loss_large", "value": "yes"},
        {"type": "answer", "question": "nope", "value": "yes"},
        {"type": "report"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    run = run_cli("chat", "--jsonl", stdin=stdin)
    assert run.code == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "question" and events[0]["question"]["id"] == "train_loss_large"
    reached = [e["finding"]["id"] for e in events if e["event"] == "finding"]
    assert reached == ["mismatch", "overfitting"]
    assert {"event": "finding_withdrawn", "id": "mismatch"}.items() <= next(
        e for e in events if e["event"] == "finding_withdrawn"
    ).items()
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 2 and "nope" in errors[0]["message"]
    assert [e["code"] for e in errors] == ["input_error", "input_error"]  # unknown id; not JSON
    report = next(e for e in events if e["event"] == "report")["report"]
    assert [f["id"] for f in report["findings"]] == ["overfitting"]
    assert report["answers"]["val_loss_large"]["value"] == "yes"


def test_schema_kinds() -> None:
    for kind in ("report", "message", "event"):
        run = run_cli("schema", "--kind", kind)
        assert run.code == 0 and json.loads(run.stdout)
