"""TRAINDOC_THREADS=1 means one thread in every pool a curvature measurement uses (issue 19).

Checked in a fresh interpreter (pools are per process and the test runner's own are already set),
by asking the pools themselves: torch.get_num_threads / get_num_interop_threads and threadpoolctl's
view of every BLAS / OpenMP library loaded (numpy's OpenBLAS, scipy's, torch's MKL or OpenMP).
The same program without the variable shows the pools wider than one where the machine has more
than one core, so the check can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROGRAM = """
import json
import torch
from torch import nn
from probes.measure import measure_curvature
from threadpoolctl import threadpool_info

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
x, y = torch.randn(64, 5, dtype=torch.float64), torch.randn(64, 1, dtype=torch.float64)
measure_curvature(model, nn.MSELoss(), (x, y), exact_limit=0)
print(json.dumps({
    "torch": torch.get_num_threads(),
    "interop": torch.get_num_interop_threads(),
    "pools": [[i["internal_api"], i["num_threads"]] for i in threadpool_info()],
}))
"""


def pools(threads: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINDOC_THREADS", "OMP_NUM_THREADS")}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop("MKL_NUM_THREADS", None)
    if threads is not None:
        env["TRAINDOC_THREADS"] = threads
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_thread_in_every_pool() -> None:
    seen = pools("1")
    assert seen["torch"] == 1 and seen["interop"] == 1
    assert seen["pools"], "threadpoolctl found no BLAS/OpenMP library to check"
    assert all(n == 1 for _, n in seen["pools"]), seen["pools"]


@pytest.mark.slow
def test_without_the_variable_the_pools_are_wider() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: every pool has one thread anyway")
    seen = pools(None)
    assert seen["torch"] > 1 or any(n > 1 for _, n in seen["pools"])


@pytest.mark.parametrize("value", ["zero", "0", "-2", "1.5"])
def test_bad_value_is_one_line(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from probes.base import ProbeError
    from probes.threads import thread_limit

    monkeypatch.setenv("TRAINDOC_THREADS", value)
    with pytest.raises(ProbeError, match="TRAINDOC_THREADS must be a positive integer"):
        thread_limit()
