"""A depth ladder's trainings here (the local executor) and on a local Ray (issue 18).

The ladder of tests/probes/setups/tiny_regression.py (depths 1-4, 2 seeds: 8 trainings, one of which is
the user's own run, trained here in both cases) with STEPS steps each; reported: the wall time of the
ladder here, the time to start Ray, the ladder's time on Ray with WORKERS workers (first run: the
workers import torch; second run: warm workers), and whether the losses are equal.

    python benchmarks/bench_trainings.py [--steps 400] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

SETUP = Path(__file__).resolve().parents[1] / "tests/probes/setups/tiny_regression.py"


def ladder(steps: int, executor: str | None, workers: int | None) -> tuple[float, list[list[float]]]:
    from probes.context import ProbeContext
    from probes.registry import run_probe
    from probes.setup import load_setup

    setup = load_setup(f"{SETUP}:setup").model_copy(update={"steps": steps})
    options = {"executor": executor, "workers": workers} if executor else {}
    started = time.perf_counter()
    data = run_probe("depth", ProbeContext(setup), depths="1,2,3,4", seeds=2, **options).data
    return time.perf_counter() - started, [r["losses"] for r in data["ladder"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TRAINDOC_THREADS", "1")
    from probes.threads import limit_threads

    limit_threads()
    import ray

    here, losses_here = ladder(args.steps, None, None)
    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - started
    cold, losses_cold = ladder(args.steps, "ray", args.workers)
    warm, losses_warm = ladder(args.steps, "ray", args.workers)
    ray.shutdown()
    load = os.getloadavg()[0]
    print("| steps | here | Ray start | on Ray, first | on Ray, warm | equal | load |")
    print("|---|---|---|---|---|---|---|")
    equal = losses_here == losses_cold == losses_warm
    print(
        f"| {args.steps} | {here:.1f} s | {ray_start:.1f} s | {cold:.1f} s | {warm:.1f} s | {equal} | {load:.1f} |"
    )


if __name__ == "__main__":
    main()
