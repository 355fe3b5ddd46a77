"""`traindoc diagnose --history` and `traindoc history` through the real entry point (subprocesses):
bad input exits 2 with one line on stderr and no traceback; real histories give reports."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import assert_one_line_error, run_cli
from tests.history.conftest import DATA, real
from tests.history.mlflow_stub import free_port

pytestmark = pytest.mark.slow


def _diagnose(spec: str, **env: str):
    return run_cli("diagnose", "--history", spec, "--json", env=env or None)


def test_truncated_json(tmp_path) -> None:
    text = real("ResultsEtape3").read_text()
    path = tmp_path / "trainer_state.json"
    path.write_text(text[: len(text) // 2])
    run = _diagnose(str(path))
    assert_one_line_error(run, "truncated JSON")
    assert run.stdout == ""


def test_csv_without_loss_column(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,val_acc\n0,10,0.5\n1,20,0.6\n")
    assert_one_line_error(_diagnose(str(path)), "no loss column", "val_acc")


def test_binary_garbage(tmp_path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes((i * 151 + 7) % 256 for i in range(4096)))
    assert_one_line_error(_diagnose(str(path)), "binary data")


def test_empty_directory(tmp_path) -> None:
    assert_one_line_error(_diagnose(str(tmp_path)), "empty directory")


def test_directory_without_history(tmp_path) -> None:
    (tmp_path / "README.md").write_text("a model\n")
    (tmp_path / "config.json").write_text('{"hidden_size": 768}')
    assert_one_line_error(_diagnose(str(tmp_path)), "no training history found")


def test_oversize_file_is_refused_without_reading_it(tmp_path) -> None:
    path = tmp_path / "trainer_state.json"
    with path.open("wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: 2 GB on paper, nothing on disk
    run = _diagnose(str(path))
    assert_one_line_error(run, "2.1 GB", "over the", "limit")


def test_size_limit_can_be_lowered(tmp_path) -> None:
    run = _diagnose(str(real("ResultsEtape3")), TRAINDOC_HISTORY_MAX_BYTES="1000")
    assert_one_line_error(run, "over the 1.0 KB limit")


def test_unreachable_mlflow_server() -> None:
    port = free_port()
    assert_one_line_error(_diagnose(f"mlflow://127.0.0.1:{port}/0123abcd"), "cannot reach the MLflow server")


def test_missing_path_and_empty_event_file(tmp_path) -> None:
    assert_one_line_error(_diagnose(str(tmp_path / "nope.json")), "no such file")
    assert_one_line_error(_diagnose(str(real("Kirito-012"))), "no scalars")


def test_diagnose_reports_overfitting_evidence_from_a_real_history() -> None:
    run = _diagnose(str(real("ResultsEtape3")))
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["answers"]["train_loss_large"]["value"] == "no"
    assert report["answers"]["train_loss_large"]["source"] == "history"
    evidence = report["answers"]["train_loss_large"]["evidence"]
    assert evidence["probe"] == "history" and evidence["rules"]
    # issue 10: no test curve, so test_set_available = no and the validation split decides (was: no
    # finding, test_loss_large pending, the validation answer inactive)
    assert report["answers"]["test_set_available"]["value"] == "no"
    assert report["answers"]["val_loss_large"]["value"] == "yes"
    assert [f["id"] for f in report["findings"]] == ["overfitting"] and report["pending"] == []


def test_diagnose_healthy_run_with_a_test_curve() -> None:
    report = _diagnose(str(real("DevilMayHide__LSTM-BADE03_Assignment__version_4"))).json()
    assert [f["id"] for f in report["findings"]] == ["healthy"]


def test_diagnose_hidden_nan_run_concludes_diverged() -> None:
    report = _diagnose(str(real("dada22231"))).json()
    assert "diverged" in [f["id"] for f in report["findings"]]


def test_history_command_text_json_and_svg(tmp_path) -> None:
    svg = tmp_path / "curves.svg"
    run = run_cli("history", str(DATA / "keras_tf2_run"), "--plot", str(svg), "--color", "never")
    assert run.code == 0, run.stderr
    assert "validation/epoch_loss" in run.stdout and "val_loss_large: yes" in run.stdout
    assert "┤" in run.stdout and "Rules:" in run.stdout
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg") and len(root.findall("{http://www.w3.org/2000/svg}polyline")) >= 2
    as_json = run_cli("history", str(real("yuanhuanghuang")), "--json").json()
    assert as_json["probe"] == "history" and as_json["answers"]["train_loss_large"] == "yes"
    assert json.dumps(as_json)  # JSON-safe all the way down


def test_history_command_options(tmp_path) -> None:
    run = run_cli("history", str(real("Kiran261101")), "--classes", "2", "--json")
    assert run.json()["answers"]["train_loss_large"] == "yes"  # 0.82 > ln 2: worse than uniform
    bad = run_cli("history", str(real("Kiran261101")), "--priors", "a,b")
    assert_one_line_error(bad, "--priors")
    assert_one_line_error(run_cli("history", str(real("Kiran261101")), "--classes", "1"), "classes")


def test_history_plot_to_an_unwritable_place(tmp_path) -> None:
    target = os.path.join(str(tmp_path), "missing-dir", "x.svg")
    assert_one_line_error(run_cli("history", str(real("Kiran261101")), "--plot", target), "cannot write")
