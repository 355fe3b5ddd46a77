"""The real-terminal run: scripts/tui_tmux_check.sh drives `traindoc --demo saddle_point` in tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tui_tmux_check.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tui_in_a_real_terminal(tmp_path: Path) -> None:
    run = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TMPDIR": str(tmp_path), "TUI_CHECK_TIMEOUT": "240"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("tui_tmux_check: OK")
    assert "ok: exported traindoc-report-" in run.stdout
