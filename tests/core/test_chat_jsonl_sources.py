"""`traindoc chat --jsonl` takes the sources `diagnose` takes and says when the walk is complete.

Ground truth: the lecture's flowchart for the answers-only case (training small, test large,
validation small -> mismatch; validation large -> overfitting); the demos' built-in answers (each
demo is constructed to land on its named leaf, e.g. the lecture's saddle with eigenvalues 2 and -2);
a real Lightning log read by hand for the history case (its training loss ends far below ln C).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REAL_HISTORIES, assert_one_line_error, run_cli

LIGHTNING = REAL_HISTORIES / "lightning_csv" / "HCDescamps__cv-image-classification__version_0_metrics.csv"


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_complete_follows_the_answer_that_ends_the_walk_and_again_when_its_findings_change() -> None:
    lines = [
        {"type": "answer", "question": "train_loss_large", "value": "no"},
        {"type": "answer", "question": "test_loss_large", "value": "yes"},
        {"type": "answer", "question": "val_loss_large", "value": "no"},
        {"type": "change", "question": "val_loss_large", "value": "yes"},
        {"type": "report"},
    ]
    run = run_cli("chat", "--jsonl", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    assert run.code == 0, run.stderr
    events = events_of(run.stdout)
    complete = [i for i, e in enumerate(events) if e["event"] == "complete"]
    assert len(complete) == 2, [e["event"] for e in events]
    first, second = (events[i]["report"] for i in complete)
    assert first["complete"] and [f["id"] for f in first["findings"]] == ["mismatch"]
    assert [f["id"] for f in second["findings"]] == ["overfitting"]
    # nothing before the first `complete` said the walk was over
    assert all(e["event"] != "complete" for e in events[: complete[0]])


def test_no_complete_while_a_question_is_open() -> None:
    run = run_cli("chat", "--jsonl", stdin=json.dumps({"type": "report"}) + "\n")
    assert run.code == 0, run.stderr
    assert "complete" not in [e["event"] for e in events_of(run.stdout)]


@pytest.mark.skipif(not LIGHTNING.exists(), reason="the real histories are not in this checkout")
def test_history_answers_come_first_as_answer_events() -> None:
    run = run_cli("chat", "--jsonl", "--history", str(LIGHTNING), stdin="")
    assert run.code == 0, run.stderr
    events = events_of(run.stdout)
    answers = {e["answer"]["question"]: e["answer"] for e in events if e["event"] == "answer"}
    assert answers["train_loss_large"]["value"] == "no"
    assert answers["train_loss_large"]["source"] == "history"
    assert events[0]["event"] == "answer"  # before any question is asked


@pytest.mark.slow
def test_a_demo_is_measured_and_the_walk_completes_without_input() -> None:
    run = run_cli("chat", "--jsonl", "--demo", "saddle_point", stdin="", env={"TRAINDOC_THREADS": "1"})
    assert run.code == 0, run.stderr
    events = events_of(run.stdout)
    assert events[-1]["event"] == "complete"
    report = events[-1]["report"]
    assert "saddle_point" in [f["id"] for f in report["findings"]]
    measured = [e for e in events if e["event"] == "answer" and e["answer"]["source"] == "probe"]
    assert measured and all(e["answer"]["evidence"] for e in measured)


def test_bad_sources_are_one_line_errors(tmp_path) -> None:
    assert_one_line_error(
        run_cli("chat", "--jsonl", "--setup", "x.py:f", "--demo", "saddle_point"), "either --setup or --demo"
    )
    assert_one_line_error(
        run_cli("chat", "--jsonl", "--setup", "tests/probes/setups/planted/bugs.py:model_ignores_shape"),
        "setup bugs.py:model_ignores_shape",
        "input size",
    )
    assert_one_line_error(
        run_cli("chat", "--jsonl", "--history", str(tmp_path / "none")), "no such file or directory"
    )
