"""bench_watch.py on two checkouts of traindoc, interleaved: the same workload, this checkout's code
against another's (e.g. main's), run after run, so a busy spell on a shared machine hits both.

Each run is a fresh process running this checkout's benchmarks/bench_watch.py with `--repeats 1`
and the given checkout first on sys.path (so `assistant`, `probes`, `rules` come from there);
the order alternates old, new, old, new, ... Prints the medians of each side and writes every run's
figures with `--json`. Only the code under test differs: the workload and the timing are this
checkout's.

Run:  python benchmarks/bench_watch_against.py --old /work/main [--repeats 3] [--workloads mlp]
                                               [--json out.json] [-- more bench_watch.py options]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NEW = HERE.parent
# run bench_watch.py with ROOT first on sys.path, from a directory that holds no package (the
# working directory would otherwise come first)
RUNNER = (
    "import runpy, sys; sys.path.insert(0, sys.argv[1]); script = sys.argv[2]; "
    "sys.argv = [script] + sys.argv[3:]; runpy.run_path(script, run_name='__main__')"
)


def one(root: Path, workloads: str, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-c", RUNNER, str(root), str(HERE / "bench_watch.py")]
        command += ["--repeats", "1", "--every", "0", "--workloads", workloads, "--json", str(out), *extra]
        subprocess.run(command, check=True, cwd=tmp, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the other checkout's root (e.g. /work/main)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default="mlp")
    parser.add_argument("--json")
    parser.add_argument("extra", nargs="*", help="more bench_watch.py options, after --")
    args = parser.parse_args()
    sides = {"old": Path(args.old).resolve(), "new": NEW}
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.repeats):
        for side, root in sides.items():
            print(f"--- {side}: {root}", flush=True)
            runs[side].append(one(root, args.workloads, args.extra))
    print("\nmedians of the runs (each a fresh process, old and new alternating):")
    for workload in args.workloads.split(","):
        for side in sides:
            rows = [r[workload] for r in runs[side]]

            def med(config: str, key: str, rows: list[dict[str, Any]] = rows) -> float:
                return statistics.median(r[config][key] for r in rows)

            firsts = [f for r in rows for f in r["default"]["first_after_step_0"] if f]
            print(
                f"{workload} {side}: plain step {statistics.median(r['step_ms'] for r in rows):.2f} ms; "
                f"default {med('default', 'overhead_in_run'):.2%} in run (curvature "
                f"{med('default', 'curvature_in_run'):.2%}, wall {med('default', 'overhead_wall'):+.1%}); "
                f"no curvature {med('no-curvature', 'overhead_in_run'):.2%} in run (wall "
                f"{med('no-curvature', 'overhead_wall'):+.1%}); first lambda_max after step 0: "
                + ", ".join(f"{f[1]:.3g} at {f[0]:g}" for f in firsts)
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"old": str(sides["old"]), "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
