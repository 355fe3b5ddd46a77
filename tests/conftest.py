"""Shared test helpers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real logs from public repositories, copied with their provenance (tests/data/real_histories/PROVENANCE.md)
REAL_HISTORIES = REPO / "tests" / "data" / "real_histories"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def run_cli(
    *args: str, stdin: str | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> Run:
    """Run the real `traindoc` entry point in a subprocess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=full_env,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(run: Run, *needles: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, and no traceback."""
    assert run.code == 2, (run.code, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def one_torch_thread():
    """Run torch on one intra-op thread for the test, then restore the setting."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _traindoc_logging_restored():
    """An embedded server configures logging for its whole process (the `traindoc` logger gets its own
    handler and stops propagating, so a TUI's screen never gets log lines): right for a user's process,
    but in the test process it would hide every later test's log records from caplog. Put it back."""
    logger = logging.getLogger("traindoc")
    before = (logger.propagate, logger.level, list(logger.handlers), logger.disabled)
    yield
    logger.propagate, logger.level, logger.disabled = before[0], before[1], before[3]
    logger.handlers[:] = before[2]
