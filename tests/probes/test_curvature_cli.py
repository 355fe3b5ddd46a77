"""`traindoc probe curvature --setup FILE.py:FUNC`: the real entry point in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO, run_cli
from tests.probes.test_curvature import REQUIRED_KEYS

pytestmark = pytest.mark.slow


def test_json_has_the_required_keys() -> None:
    run = run_cli("probe", "curvature", "--setup", "tests/probes/setups/tiny_regression.py:setup", "--json")
    assert run.code == 0, run.stderr
    payload = json.loads(run.stdout)
    assert set(payload) >= REQUIRED_KEYS
    assert {"answers", "summary", "rules", "warnings"} <= set(payload)
    assert payload["classification"] in (
        "not_at_critical_point",
        "saddle_point",
        "local_minimum_like",
        "undetermined",
    )
    assert payload["mode"] == "eval" and payload["samples"] == 256
    assert payload["minimum_ratio_exact"] is True  # a few hundred parameters: the exact Hessian
    assert payload["hvp_count"] == payload["parameters"]
    assert set(payload["answers"]) == {
        "gradient_norm_small",
        "hessian_negative_eigenvalue",
        "learning_rate_exceeds_stability",
    }


def test_options_reach_the_probe_and_the_saddle_is_shown() -> None:
    traindoc = shutil.which("traindoc")
    if traindoc is None:
        pytest.skip("the traindoc console script is not installed")
    proc = subprocess.run(
        [
            traindoc,
            "probe",
            "curvature",
            "--setup",
            "tests/probes/setups/lecture_saddle.py:setup",
            "--exact-limit",
            "0",
            "--negative-threshold",
            "0.25",
            "--gradient-threshold",
            "1e-6",
            "--progress",
            "always",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Saddle point")
    assert "negative_threshold 0.25" in proc.stdout
    assert "gradient_threshold 1e-06" in proc.stdout
    assert "hessian_negative_eigenvalue: yes" in proc.stdout
    # the progress bar went to stderr with the Lanczos estimates, and was cleared at the end
    assert "lambda_min=" in proc.stderr and "curvature" in proc.stderr


def test_bad_option_value_is_one_line() -> None:
    run = run_cli(
        "probe", "curvature", "--setup", "tests/probes/setups/lecture_saddle.py:setup", "--max-hvp", "1"
    )
    assert run.code == 2
    assert run.stderr.strip().splitlines() == ["traindoc: max_hvp must be at least 2 (got 1)"]


def test_all_samples_in_batches_and_the_accurate_goal_by_default() -> None:
    run = run_cli(
        "probe",
        "curvature",
        "--setup",
        "tests/probes/setups/tiny_regression.py:setup",
        "--samples",
        "all",
        "--batch-size",
        "100",
        "--exact-limit",
        "0",
        "--json",
    )
    assert run.code == 0, run.stderr
    payload = json.loads(run.stdout)
    # the setup has 256 training samples: batches of 100, 100 and 56
    assert (payload["samples"], payload["batches"], payload["batch_size"]) == (256, 3, 100)
    assert payload["goal"] == "accurate" and payload["decision"] is None
    assert payload["graph"] in ("retained", "recomputed") and payload["graph_bytes_per_batch"] > 0
    spread = payload["batch_spread"]
    assert spread["batches"] == 3 and set(spread) >= {"gradient_norm", "lambda_max", "lambda_min"}
    assert payload["bounds"]["lambda_max"][0] == payload["lambda_max"]


def test_the_deciding_goal_from_the_command_line() -> None:
    run = run_cli(
        "probe",
        "curvature",
        "--setup",
        "tests/probes/setups/tiny_regression.py:setup",
        "--goal",
        "decide",
        "--exact-limit",
        "0",
        "--json",
    )
    assert run.code == 0, run.stderr
    payload = json.loads(run.stdout)
    assert payload["goal"] == "decide" and payload["hvp_count"] <= 20


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_bad_samples_are_one_line(value: str) -> None:
    run = run_cli(
        "probe", "curvature", "--setup", "tests/probes/setups/tiny_regression.py:setup", "--samples", value
    )
    assert run.code == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "samples" in run.stderr
