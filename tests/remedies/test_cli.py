"""`traindoc remedies` and `traindoc diagnose --try-remedies` as a user runs them (real subprocesses)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_cli

ENV = {"TRAINDOC_THREADS": "1"}


def test_remedies_json_on_the_saddle_demo() -> None:
    run = run_cli("remedies", "--demo", "saddle_point", "--json", "--progress", "never", env=ENV)
    assert run.code == 0, run.stderr
    report = run.json()
    # diagnosed first, then treated: the demo's findings (closed form: a saddle at (0, 0))
    assert report["findings"] == ["optimization_issue", "saddle_point"]
    for key in (
        "metric",
        "baseline",
        "noise",
        "remedies",
        "best",
        "recommendation",
        "nothing_helps",
        "cost_runs",
    ):
        assert key in report
    escape = next(r for r in report["remedies"] if r["id"] == "escape_step")
    assert escape["status"] == "helps" and escape["before"]["train"] == pytest.approx(1.0)
    for key in ("before", "after", "change", "margin", "seconds", "cost_runs", "findings", "curve"):
        assert key in escape


def test_remedies_markdown_with_given_findings() -> None:
    run = run_cli("remedies", "--demo", "mismatch", "--findings", "mismatch", env=ENV)
    assert run.code == 0, run.stderr
    assert "## Remedies tried on your setup" in run.stdout
    assert "Training changes cannot fix a mismatch" in run.stdout
    assert "**Not tried**" in run.stdout


def test_diagnose_try_remedies_adds_one_key() -> None:
    run = run_cli(
        "diagnose", "--demo", "saddle_point", "--try-remedies", "--json", "--progress", "never", env=ENV
    )
    assert run.code == 0, run.stderr
    report = run.json()
    assert [f["id"] for f in report["findings"]] == ["optimization_issue", "saddle_point"]
    assert report["remedies"]["findings"] == ["optimization_issue", "saddle_point"]
    assert report["remedies"]["best"]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("remedies",), ("--setup", "--demo")),
        (("remedies", "--demo", "saddle_point", "--setup", "x.py:f"), ("one of",)),
        (("remedies", "--demo", "nope"), ("unknown demo", "saddle_point")),
        (("remedies", "--demo", "saddle_point", "--findings", "sadle"), ("unknown finding", "saddle_point")),
        (("remedies", "--demo", "saddle_point", "--findings", " , "), ("--findings",)),
        (("remedies", "--demo", "saddle_point", "--workers", "0"), ("--workers",)),
        (("remedies", "--setup", "missing_file.py:setup"), ("not found", "missing_file.py")),
        (("diagnose", "--answers", "a.json", "--try-remedies"), ("--try-remedies", "--setup")),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_one_line_error(run_cli(*args, env=ENV), *needles)
