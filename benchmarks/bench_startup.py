"""How long the command line takes to start: `traindoc --help`, `schema`, `diagnose --answers F`.

Each command runs REPEATS times in a fresh interpreter (the installed `traindoc` console script);
reported: the fastest and the median wall time, and the CPU time (user + system) of the median run,
beside a bare `python -c pass` (what no command can go below). On a shared machine the wall time
follows the load; CPU time much less so. A second table lists which heavy modules each command loads
(the reason for its time), from `sys.modules`.

    python benchmarks/bench_startup.py [--repeats 15] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
HEAVY = ("pydantic", "durable", "rules", "httpx", "fastapi", "rich", "textual", "numpy", "torch")


def commands(answers: Path) -> dict[str, list[str]]:
    traindoc = str(BIN / "traindoc")
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        # pydantic loads its machinery on the first BaseModel: the floor of every command that reads
        # or writes a report
        "python: pydantic + one model (floor of schema, diagnose)": [
            sys.executable,
            "-c",
            "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int",
        ],
        "traindoc --help": [traindoc, "--help"],
        "traindoc --version": [traindoc, "--version"],
        "traindoc schema": [traindoc, "schema"],
        "traindoc schema --kind probes": [traindoc, "schema", "--kind", "probes"],
        "traindoc diagnose --answers F --json": [traindoc, "diagnose", "--answers", str(answers), "--json"],
    }


def measure(argv: list[str], repeats: int) -> tuple[float, float, float]:
    """(fastest wall, median wall, CPU of the runs on average), seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return min(walls), statistics.median(walls), statistics.median(cpus)


def loaded(args: list[str]) -> list[str]:
    code = (
        "import sys\nfrom traindoc.__main__ import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('\\nLOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    return eval(out.rsplit("LOADED", 1)[1])  # a list literal printed above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--markdown", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "answers.json"
        answers.write_text(json.dumps({"train_loss_large": "no", "test_loss_large": "no"}))
        rows = []
        for name, argv in commands(answers).items():
            fastest, median, cpu = measure(argv, opts.repeats)
            heavy = loaded(argv[1:]) if argv[0].endswith("traindoc") else []
            rows.append((name, fastest, median, cpu, heavy))
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f}, Python {sys.version.split()[0]}, {opts.repeats} runs each"
    )
    # without bytecode files every traindoc module is compiled from source at every start (~0.1 s of
    # CPU for diagnose): state it, it decides the figures
    bytecode = "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"bytecode cache: {bytecode}, PYTHONPYCACHEPREFIX={os.environ.get('PYTHONPYCACHEPREFIX') or '-'}")
    print("| command | fastest wall | median wall | CPU (user+sys) | heavy modules loaded |")
    print("| --- | --- | --- | --- | --- |")
    for name, fastest, median, cpu, heavy in rows:
        print(f"| `{name}` | {fastest:.3f} s | {median:.3f} s | {cpu:.3f} s | {', '.join(heavy) or '—'} |")


if __name__ == "__main__":
    main()
