"""`torchrun --nproc-per-node 2 -m traindoc probe curvature --distributed`: the real launcher, two gloo
processes on CPU, against the same command in one process.

Ground truth: the one-process run of the same command (itself checked against
torch.autograd.functional.hessian in test_curvature_decide.py). The ranks sum the same per-batch
products in another order, so float64 results agree to round-off: extremes within 1e-10 relative.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from tests.conftest import REPO, assert_one_line_error, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend"),
    pytest.mark.skipif(sys.platform == "win32", reason="gloo over TCP on loopback"),
]

SETUP = "tests/probes/setups/float64_regression.py:setup"
# 250 samples in 5 batches of 50: rank 0 takes 3, rank 1 takes 2 (uneven shares)
ARGS = ["--samples", "all", "--batch-size", "50", "--exact-limit", "0", "--json", "--progress", "never"]


def test_two_torchrun_processes_match_one() -> None:
    env = {**os.environ, "TRAINDOC_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    proc = subprocess.run(
        [*launcher, "-m", "traindoc", "probe", "curvature", "--setup", SETUP, "--distributed", *ARGS],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout)  # rank 0 alone prints: one JSON object
    one_run = run_cli("probe", "curvature", "--setup", SETUP, *ARGS, env={"TRAINDOC_THREADS": "1"})
    assert one_run.code == 0, one_run.stderr
    one = json.loads(one_run.stdout)
    assert two["distributed"] == {
        "engine": "torch.distributed",
        "backend": "gloo",
        "world_size": 2,
        "rank": 0,
    }
    assert one["distributed"] is None
    assert (two["batches"], two["samples"], two["parameters"]) == (
        one["batches"],
        one["samples"],
        one["parameters"],
    )
    assert two["batches"] == 5 and two["dtype"] == "float64" and two["method"] == "lanczos"
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-12)
    assert two["gradient_norm"] == pytest.approx(one["gradient_norm"], rel=1e-10)
    assert two["lambda_max"] == pytest.approx(one["lambda_max"], rel=1e-10)
    assert two["lambda_min"] == pytest.approx(one["lambda_min"], rel=1e-10)
    assert two["classification"] == one["classification"]
    # the batch spread is gathered from both ranks in batch order: the same five gradient norms
    assert two["batch_spread"]["gradient_norm"] == pytest.approx(
        one["batch_spread"]["gradient_norm"], rel=1e-10
    )
    assert two["batch_spread"]["lambda_min"] == pytest.approx(one["batch_spread"]["lambda_min"], rel=1e-8)


def test_distributed_without_torchrun_is_a_one_line_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "probe", "curvature", "--setup", SETUP, "--distributed"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    from tests.conftest import Run

    assert_one_line_error(Run(proc.returncode, proc.stdout, proc.stderr), "torchrun", "distributed")
