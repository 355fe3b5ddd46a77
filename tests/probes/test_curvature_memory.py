"""Out of memory is reported as such, with a batch size that then fits (issue 19).

A real allocation failure, not a simulated one: a fresh interpreter caps its own address space
(RLIMIT_AS) 300 MiB above what it uses after the imports, and measures a 1.3M-parameter MLP on 8,192
samples in ONE batch, whose double-backward graph needs about 400 MiB. The error must be the
out-of-memory class with one line naming batch_size; a second fresh interpreter under the same cap
then measures with the batch size the message suggested, and must succeed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"),
]

PROGRAM = """
import json, resource, sys
import torch
from torch import nn
from probes.base import ProbeOutOfMemory
from probes.measure import measure_curvature

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 1024), nn.Tanh(), nn.Linear(1024, 1024), nn.Tanh(), nn.Linear(1024, 1))
x, y = torch.randn(8192, 256), torch.randn(8192, 1)
size = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 300 * 2**20, resource.RLIM_INFINITY))
try:
    m = measure_curvature(
        model, nn.MSELoss(), (x, y), samples="all", batch_size=int(sys.argv[1]), exact_limit=0, max_hvp=2
    )
except ProbeOutOfMemory as exc:
    print(json.dumps({"error": type(exc).__name__, "message": exc.message, "field": exc.field}))
else:
    print(json.dumps({"batches": m.batches, "graph": m.graph, "hvp_count": m.hvp_count}))
"""


def run(batch_size: int) -> dict:
    env = {**os.environ, "TRAINDOC_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(batch_size)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_out_of_memory_names_a_batch_size_that_fits() -> None:
    failed = run(8192)
    assert failed["error"] == "ProbeOutOfMemory" and failed["field"] == "batch_size"
    message = failed["message"]
    assert "\n" not in message and message.startswith("out of memory while")
    assert "differentiated twice" not in message
    suggested = int(re.search(r"use batch_size (\d+)", message).group(1))
    assert 1 <= suggested < 8192
    done = run(suggested)
    assert "error" not in done, done
    assert done["batches"] == -(-8192 // suggested) and done["hvp_count"] >= 2


def test_the_cli_gives_out_of_memory_its_own_exit_code() -> None:
    from assistant.cli.common import EXIT_OUT_OF_MEMORY, EXIT_USAGE, guarded
    from probes.base import ProbeError, ProbeOutOfMemory

    def oom() -> int:
        raise ProbeOutOfMemory("out of memory while x: use batch_size 8 (or fewer samples)")

    def usage() -> int:
        raise ProbeError("bad")

    assert guarded(oom) == EXIT_OUT_OF_MEMORY != EXIT_USAGE == guarded(usage)
