"""How long the command line takes to start: `traindoc --help`, `schema`, `diagnose --answers F`.

Each command runs REPEATS times in a fresh interpreter (the installed `traindoc` console script);
reported: the fastest and the median wall time, and the CPU time (user + system) of the median run,
beside a bare `python -c pass` (what no command can go below). On a shared machine the wall time
follows the load; CPU time much less so. The last column lists which heavy modules each command loads
(the reason for its time), from `sys.modules`.

    python benchmarks/bench_startup.py [--repeats 15] [--bytecode on|off|env] [--venv DIR]

--bytecode on (default) measures what a user's install does: Python's bytecode cache written (into a
temporary PYTHONPYCACHEPREFIX, warmed by one run of each command) even where the environment sets
PYTHONDONTWRITEBYTECODE; off compiles every module at every start; env leaves the environment as it is.
`python -S -c pass` shows what the site-packages' .pth files cost (a sandbox's certifi hook, an
editable install's finder: a user's venv has neither).
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

HEAVY = ("pydantic", "durable", "rules", "httpx", "fastapi", "rich", "textual", "numpy", "torch")


def commands(answers: Path, python: str) -> dict[str, list[str]]:
    traindoc = str(Path(python).parent / "traindoc")
    return {
        "python -c pass (floor)": [python, "-c", "pass"],
        "python -S -c pass (no site-packages .pth files)": [python, "-S", "-c", "pass"],
        # pydantic loads its machinery on the first BaseModel: the floor of every command that reads
        # or writes a report
        "python: pydantic + one model (floor of schema, diagnose)": [
            python,
            "-c",
            "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int",
        ],
        "traindoc --help": [traindoc, "--help"],
        "traindoc --version": [traindoc, "--version"],
        "traindoc schema": [traindoc, "schema"],
        "traindoc schema --kind probes": [traindoc, "schema", "--kind", "probes"],
        "traindoc diagnose --answers F --json": [traindoc, "diagnose", "--answers", str(answers), "--json"],
        # the pure-Python evaluator of the same rules (the engine on Python 3.13+): what durable costs
        "TRAINDOC_ENGINE=python traindoc diagnose --answers F --json": [
            "TRAINDOC_ENGINE=python",
            traindoc,
            "diagnose",
            "--answers",
            str(answers),
            "--json",
        ],
    }


def split_env(argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A leading NAME=VALUE of a command line goes into its environment."""
    if argv and "=" in argv[0] and not argv[0].startswith("/"):
        name, value = argv[0].split("=", 1)
        return argv[1:], {**env, name: value}
    return argv, env


def measure(argv: list[str], env: dict[str, str], repeats: int) -> tuple[float, float, float]:
    """(fastest wall, median wall, median CPU), seconds, after one warm-up run (it writes the
    bytecode cache when that is on)."""
    argv, env = split_env(argv, env)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return min(walls), statistics.median(walls), statistics.median(cpus)


def loaded(python: str, args: list[str], env: dict[str, str]) -> list[str]:
    code = (
        "import sys\nfrom traindoc.__main__ import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('\\nLOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    # not from the repository: `python -c` puts the working directory first on sys.path
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir()
    ).stdout
    return eval(out.rsplit("LOADED", 1)[1])  # a list literal printed above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--bytecode", choices=("on", "off", "env"), default="on")
    parser.add_argument(
        "--venv",
        type=Path,
        help="measure the traindoc installed in this venv (e.g. from the wheel, as a user has it) "
        "instead of the one beside this Python",
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if opts.bytecode == "on":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        elif opts.bytecode == "off":
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        answers = Path(tmp) / "answers.json"
        answers.write_text(json.dumps({"train_loss_large": "no", "test_loss_large": "no"}))
        load_before = os.getloadavg()[0]
        rows = []
        python = str(opts.venv / "bin" / "python") if opts.venv else sys.executable
        for name, argv in commands(answers, python).items():
            fastest, median, cpu = measure(argv, env, opts.repeats)
            command, command_env = split_env(argv, env)
            heavy = loaded(python, command[1:], command_env) if command[0].endswith("traindoc") else []
            rows.append((name, fastest, median, cpu, heavy))
        load_after = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} -> {load_after:.1f}, "
        f"Python {sys.version.split()[0]}, {opts.repeats} runs each, {python}"
    )
    # without bytecode files every traindoc module is compiled from source at every start (~0.1 s of
    # CPU for diagnose): state it, it decides the figures
    bytecode = "off (PYTHONDONTWRITEBYTECODE)" if env.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"bytecode cache: {bytecode}, PYTHONPYCACHEPREFIX={env.get('PYTHONPYCACHEPREFIX') or '-'}")
    print("| command | fastest wall | median wall | CPU (user+sys) | heavy modules loaded |")
    print("| --- | --- | --- | --- | --- |")
    for name, fastest, median, cpu, heavy in rows:
        print(f"| `{name}` | {fastest:.3f} s | {median:.3f} s | {cpu:.3f} s | {', '.join(heavy) or '—'} |")


if __name__ == "__main__":
    main()
