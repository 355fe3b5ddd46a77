"""Overhead of watching a run (assistant.watch): a typical small run timed with and without `watch`.

The run: an MLP 64-128-128-10 (26k parameters) on scikit-learn's digits (1,797 images, bundled, no
download; a synthetic stand-in of the same shape if scikit-learn is absent), SGD with momentum,
batch 64, 4,000 steps (`--steps`), the validation loss every epoch. Timed:
- plain: the loop alone;
- default: `watch(...)` with the default cadence (all curvature, step 0 and the end point included,
  within `budget` = 3% of the training time so far; warm-started Lanczos; the end point stopped as the
  diagnosis stops it) and the report, plots;
- every-N: curvature every N steps (the fixed cadence a user can ask for).
Overhead = (watched - plain) / plain, on the median of `--repeats` runs each (the machine is shared:
medians, not means); "accounted" = time inside traindoc's calls / the plain loop's median; "in run" =
time inside traindoc / the same run's training time (robust to the load changing between runs). The
goal (issue 16): the default under 5%. The machine's load average (1 minute) is recorded at the start
and the end: on a shared machine the figures mean little without it.

Run:  python benchmarks/bench_watch.py [--threads 1] [--repeats 3] [--steps 4000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import torch
from torch import nn

from assistant.watch import watch


def digits() -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.data, dtype=torch.float32) / 16.0
        return x, torch.tensor(d.target), "sklearn digits"
    except ImportError:
        g = torch.Generator().manual_seed(0)
        return (
            torch.rand(1797, 64, generator=g),
            torch.randint(0, 10, (1797,), generator=g),
            "synthetic 1797x64",
        )


def run(steps: int, watched: dict[str, Any] | None, seed: int = 0) -> dict[str, Any]:
    x, y, _ = digits()
    xt, yt, xv, yv = x[:1400], y[:1400], x[1400:], y[1400:]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = len(xt) // 64

    def loop(handle: Any = None) -> None:
        for step in range(1, steps + 1):
            idx = torch.randint(0, len(xt), (64,))
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if handle is not None:
                handle.step(loss)
            if step % per_epoch == 0:
                with torch.no_grad():
                    val = loss_fn(model(xv), yv)
                if handle is not None:
                    handle.eval(val)

    started = time.perf_counter()
    report = None
    if watched is None:
        loop()
    else:
        with tempfile.TemporaryDirectory() as out:
            options = {"classes": 10, "store": False, **watched}
            with watch(
                model, opt, loss_fn, held_batch=(xt[:64], yt[:64]), output_dir=out, **options
            ) as handle:
                loop(handle)
            report = handle.report
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"seconds": seconds}
    if report is not None:
        result.update(
            measurements=len(report.sharpness),
            own_seconds=report.traindoc_seconds,
            # traindoc's time over the same run's training time: on a machine whose load changes
            # between runs, the one ratio that both sides of shares the load
            in_run=report.overhead,
            curvature_in_run=report.curvature_share,
            curvature_seconds=report.curvature_seconds,
            findings=report.findings,
            alerts=len(report.alerts),
            analyses=handle.live.analyses,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--every", type=int, default=100, help="0: leave the fixed-cadence config out")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs: dict[str, dict[str, Any] | None] = {
        "plain": None,
        "default": {},
        f"every-{args.every}": {"curvature_every": args.every},
        "no-curvature": {"curvature": False},
    }
    if not args.every:
        del configs["every-0"]
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for _ in range(args.repeats):  # interleaved, so a busy spell on the machine hits every config
        for name, cfg in configs.items():
            results[name].append(run(args.steps, cfg))
    plain = statistics.median(r["seconds"] for r in results["plain"])
    summary: dict[str, Any] = {
        "data": digits()[2],
        "steps": args.steps,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "plain_seconds": plain,
        "load_average": [load_start, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
    }
    print(
        f"{summary['data']}, {args.steps} steps, {args.threads} thread(s); plain loop {plain:.2f} s (median); "
        f"load average {summary['load_average'][0]} at the start, {summary['load_average'][1]} at the end"
    )
    for name, rows in results.items():
        if name == "plain":
            continue
        med = statistics.median(r["seconds"] for r in rows)
        own = statistics.median(r["own_seconds"] for r in rows)
        meas = statistics.median(r["measurements"] for r in rows)
        summary[name] = {
            "seconds": med,
            "overhead_wall": (med - plain) / plain,
            "overhead_accounted": own / plain,
            "curvature_accounted": statistics.median(r["curvature_seconds"] for r in rows) / plain,
            "overhead_in_run": statistics.median(r["in_run"] for r in rows),
            "analyses": statistics.median(r["analyses"] for r in rows),
            "curvature_measurements": meas,
            "curvature_in_run": statistics.median(r["curvature_in_run"] for r in rows),
            "findings": rows[-1]["findings"],
        }
        print(
            f"{name:>14}: {med:.2f} s, overhead {(med - plain) / plain:+.1%} wall-clock, "
            f"{own / plain:.1%} accounted by traindoc ({summary[name]['overhead_in_run']:.1%} of its own run's "
            f"training time, curvature {summary[name]['curvature_in_run']:.1%}); {meas:g} lambda_max measurements; "
            f"findings {rows[-1]['findings']}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
