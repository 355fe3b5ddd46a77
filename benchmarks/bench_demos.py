"""Benchmark: `traindoc diagnose --demo NAME` for every demo, and the automatic diagnosis as a multiple
of one plain training run of the same setup.

    python benchmarks/bench_demos.py              # print the table
    python benchmarks/bench_demos.py --write      # also write it into docs/probes.md

Per demo:
- CLI: wall time and peak resident memory (os.wait4's ru_maxrss for that one child) of
  `python -m assistant diagnose --demo NAME --json`, with torch's default threads and with
  OMP_NUM_THREADS=1; the findings are checked against the demo's expected ones.
- In process, warm (imports and torch's first-step initialisation paid before timing): the median
  of `repeats` plain training runs (`train_model(setup)`) and of `repeats` full automatic diagnoses
  (`run_automatic` on a fresh session and ProbeContext), and their ratio. Goal: ratio <= 5, CLI < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "probes.md"
START, END = "<!-- bench_demos:start -->", "<!-- bench_demos:end -->"


def in_process(name: str, repeats: int) -> dict[str, float]:
    import torch

    from assistant.autorun import run_automatic
    from assistant.session import Session
    from probes.context import ProbeContext
    from probes.demos import demo_setup
    from probes.training import train_model

    torch.set_num_threads(1)
    setup = demo_setup(name)
    train_model(setup, steps=5)  # warm up torch's lazy first-step initialisation
    plains, fulls, trainings = [], [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        train_model(setup)
        plains.append(time.perf_counter() - started)
        ctx = ProbeContext(setup)
        started = time.perf_counter()
        run_automatic(Session(), ctx)
        fulls.append(time.perf_counter() - started)
        trainings = ctx.trainings
    plain, full = statistics.median(plains), statistics.median(fulls)
    return {"plain": plain, "full": full, "ratio": full / plain, "trainings": trainings}


def measure(name: str, repeats: int) -> dict[str, object]:
    from probes.demos import DEMOS

    default = cli_run(name, None)
    single = cli_run(name, 1)
    expected = sorted(DEMOS[name].expected)
    if default["findings"] != expected or single["findings"] != expected:
        raise SystemExit(f"{name}: findings {default['findings']} != expected {expected}")
    return {"name": name, "cli": default, "cli_1_thread": single, **in_process(name, repeats)}


def cli_run(name: str, threads: int | None) -> dict[str, object]:
    """Start the child, drain its pipes in threads, and reap it with os.wait4 to get its own rusage."""
    import threading

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "diagnose", "--demo", name, "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    chunks: dict[str, bytes] = {}

    def drain(key: str, stream) -> None:  # type: ignore[no-untyped-def]
        chunks[key] = stream.read()

    readers = [
        threading.Thread(target=drain, args=("out", proc.stdout)),
        threading.Thread(target=drain, args=("err", proc.stderr)),
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"diagnose --demo {name} failed: {chunks.get('err', b'').decode().strip()}")
    report = json.loads(chunks["out"])
    return {
        "wall": wall,
        "peak_mib": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "findings": sorted(f["id"] for f in report["findings"]),
    }


def table(rows: list[dict[str, object]]) -> str:
    head = (
        "| demo | CLI wall (s) | CLI wall, 1 thread (s) | peak memory (MiB) | plain run (s) "
        "| full diagnosis (s) | ratio | trainings |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        cli, single = r["cli"], r["cli_1_thread"]
        lines.append(
            f"| {r['name']} | {cli['wall']:.1f} | {single['wall']:.1f} | {cli['peak_mib']:.0f} "  # type: ignore[index]
            f"| {r['plain']:.3f} | {r['full']:.3f} | {r['ratio']:.1f}x | {r['trainings']} |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    if START not in doc or END not in doc:
        raise SystemExit(f"{DOC} has no {START} ... {END} block")
    before, rest = doc.split(START, 1)
    _, after = rest.split(END, 1)
    DOC.write_text(f"{before}{START}\n{text}\n{END}{after}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", action="append", help="only these demos (repeatable)")
    parser.add_argument("--write", action="store_true", help=f"write the table into {DOC.relative_to(REPO)}")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from probes.demos import DEMOS

    names = args.demo or list(DEMOS)
    rows = []
    for name in names:
        rows.append(measure(name, args.repeats))
        print(f"{name}: done", file=sys.stderr)
    load = os.getloadavg()
    note = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load[0]:.1f} at the end (a shared machine); "
        f"in-process figures are medians of {args.repeats} warm runs with one torch thread."
    )
    text = f"{table(rows)}\n\n{note}"
    print(text)
    if args.write:
        write_doc(text)
    worst = max(float(r["ratio"]) for r in rows)  # type: ignore[arg-type]
    slowest = max(float(r["cli"]["wall"]) for r in rows)  # type: ignore[index]
    print(f"\nworst ratio {worst:.1f}x (goal <= 5), slowest CLI {slowest:.1f} s (goal < 30)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
