"""Peak memory and time of `traindoc history` on hostile or oversized inputs (issue 14's history part).

    python benchmarks/bench_history_memory.py        # prints a Markdown table for docs/history.md

Each case is a file written in a temporary directory, read by the real CLI in a fresh subprocess;
the peak resident memory of that subprocess (ru_maxrss of the child) and its CPU time are measured.
The goal: every reader stays bounded: a file it cannot hold is refused in one line (exit 2) before
the memory is spent, and a large real-shaped history is read within a few hundred MB.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1000 * 1000


def _one_line_csv(path: Path) -> None:
    # the case: 250 MB of CSV without a single line break
    chunk = ("0.123456," * 100_000).encode()
    with path.open("wb") as fh:
        fh.write(b"loss,val_loss,")
        written = 0
        while written < 250 * MB:
            fh.write(chunk)
            written += len(chunk)


def _wide_csv(path: Path) -> None:
    # the case: ~21 MB with 2 million columns
    with path.open("w") as fh:
        fh.write(",".join(f"loss{i}" for i in range(2_000_000)) + "\n")
        fh.write(",".join("0.5" for _ in range(2_000_000)) + "\n")


def _big_json(path: Path) -> None:
    # a 130 MB trainer_state.json: over the 64 MB cap for formats parsed whole
    log = [
        {"loss": 1.0 / (1 + i), "step": i, "learning_rate": 1e-4, "epoch": i / 1000} for i in range(1_400_000)
    ]
    path.write_text(json.dumps({"global_step": len(log), "log_history": log}))


def _long_csv(path: Path) -> None:
    # 1.5 million rows of a real-shaped metrics CSV (~30 MB), streamed
    with path.open("w") as fh:
        fh.write("epoch,step,train_loss,val_loss\n")
        for i in range(1_500_000):
            val = f"{0.5 + 0.3 * math.exp(-i / 4e5):.5f}" if i % 1000 == 0 else ""
            fh.write(f"{i // 10000},{i},{1 / (1 + i / 1e5):.5f},{val}\n")


def _longer_csv(path: Path) -> None:
    with path.open("w") as fh:
        fh.write("epoch,step,train_loss\n")
        for i in range(3_000_000):
            fh.write(f"{i // 10000},{i},{1 / (1 + i / 1e5):.5f}\n")


CASES = [
    ("one 250 MB line (CSV header, no line break)", "one_line.csv", _one_line_csv),
    ("2,000,000 columns (~21 MB)", "wide.csv", _wide_csv),
    ("130 MB trainer_state.json", "trainer_state.json", _big_json),
    ("1,500,000-row metrics CSV", "metrics.csv", _long_csv),
    ("3,000,000-row metrics CSV (over the 2,000,000-value cap)", "metrics3m.csv", _longer_csv),
]


def run_case(path: Path) -> tuple[int, float, float, str]:
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run([sys.executable, '-m', 'assistant', 'history', sys.argv[1], '--json'],"
        " capture_output=True, text=True)\n"
        "dt = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "err = p.stderr.strip().splitlines()\n"
        "print(p.returncode, round(u.ru_utime + u.ru_stime, 2), round(u.ru_maxrss / 1024), (err[-1] if err else 'ok')[:160], sep='\\t')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=REPO, env={**os.environ}
    )
    rc, dt, peak, msg = out.stdout.strip().split("\t", 3)
    return int(rc), float(dt), float(peak), msg


def main() -> None:
    # CPU seconds, not wall time: the shared development machine runs at load 5-10
    print("| input | size | exit | CPU time | peak memory | what the user sees |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, make in CASES:
            path = Path(tmp) / name
            make(path)
            size = path.stat().st_size / MB
            rc, dt, peak, msg = run_case(path)
            shown = msg.replace(str(tmp), "…").replace("|", "\\|")
            print(f"| {label} | {size:.0f} MB | {rc} | {dt:.1f} s | {peak:.0f} MiB | {shown} |")
            path.unlink()


if __name__ == "__main__":
    main()
