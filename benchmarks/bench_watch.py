"""Overhead of watching a run (assistant.watch): typical small runs timed with and without `watch`.

Two workloads, measured side by side in the same run (`--workloads mlp,cnn`):
- mlp: an MLP 64-128-128-10 (26k parameters) on scikit-learn's digits (1,797 images, bundled, no
  download; a synthetic stand-in of the same shape if scikit-learn is absent), SGD with momentum,
  batch 64, 4,000 steps (`--steps`): a ~3 ms step, the smallest run anyone would watch;
- cnn: a small CNN (conv 3->16 and 16->32, 3x3, each with ReLU and 2x2 max-pooling, then a dense
  layer to 10 classes; 25k parameters) on the same digits upsampled to 32x32x3 (bilinear, the grey
  level copied into 3 channels), SGD with momentum, batch 64, `--cnn-steps` (1,000) steps: a step of
  tens of ms or more, as in most small real runs.
Both with the validation loss every epoch (21 steps). Timed:
- plain: the loop alone;
- default: `watch(...)` with the default cadence (all curvature, step 0 and the end point included,
  within `budget` = 3% of the training time so far; warm-started Lanczos; the end point stopped as the
  diagnosis stops it) and the report, plots;
- every-N: curvature every N steps (the fixed cadence a user can ask for; `--every 0` leaves it out);
- budget-B (`--budget B`, the MLP only): the default cadence at another budget, with the lambda_max
  trajectory recorded (does it still see the sharpening?);
- no-curvature: everything but the curvature.
Overhead = (watched - plain) / plain, on the median of `--repeats` runs each (the machine is shared:
medians, not means); "accounted" = time inside traindoc's calls / the plain loop's median; "in run" =
time inside traindoc / the same run's training time (robust to the load changing between runs). The
goal (issue 16): the default under 5%. The machine's load average (1 minute) is recorded at the start
and the end: on a shared machine the figures mean little without it.

Run:  python benchmarks/bench_watch.py [--threads 1] [--repeats 3] [--steps 4000] [--cnn-steps 1000]
                                       [--workloads mlp,cnn] [--budget 0.02] [--json out.json]
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


def images() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as 32x32 RGB images (bilinear upsampling of the 8x8 grey levels, copied into 3
    channels): a CNN's input shape without a download."""
    x, y, _ = digits()
    big = torch.nn.functional.interpolate(x.reshape(-1, 1, 8, 8), size=(32, 32), mode="bilinear")
    return big.expand(-1, 3, -1, -1).contiguous(), y


def workload(name: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    if name == "mlp":
        x, y, _ = digits()
        model: nn.Module = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        return model, x, y
    x, y = images()
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )
    return model, x, y


def run(steps: int, watched: dict[str, Any] | None, seed: int = 0, name: str = "mlp") -> dict[str, Any]:
    torch.manual_seed(seed)
    model, x, y = workload(name)
    xt, yt, xv, yv = x[:1400], y[:1400], x[1400:], y[1400:]
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
            sharpness=[(m["step"], m["lambda_max"]) for m in report.sharpness],
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000, help="the MLP's steps")
    parser.add_argument("--cnn-steps", type=int, default=1000)
    parser.add_argument("--workloads", default="mlp,cnn")
    parser.add_argument("--every", type=int, default=100, help="0: leave the fixed-cadence config out")
    parser.add_argument("--budget", type=float, default=0.0, help="the MLP at this budget too (0: not)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs: dict[str, dict[str, Any] | None] = {
        "plain": None,
        "default": {},
        f"every-{args.every}": {"curvature_every": args.every},
        f"budget-{args.budget:g}": {"budget": args.budget},
        "no-curvature": {"curvature": False},
    }
    if not args.every:
        del configs["every-0"]
    if not args.budget:
        del configs["budget-0"]
    names = args.workloads.split(",")
    steps = {"mlp": args.steps, "cnn": args.cnn_steps}
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results: dict[str, dict[str, list[dict[str, Any]]]] = {w: {c: [] for c in configs} for w in names}
    for _ in range(args.repeats):  # interleaved, so a busy spell on the machine hits every config
        for w in names:
            for name, cfg in configs.items():
                if w != "mlp" and name.startswith("budget-"):
                    continue
                results[w][name].append(run(steps[w], cfg, name=w))
    summary: dict[str, Any] = {
        "data": digits()[2],
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_average": [load_start, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
    }
    print(
        f"{summary['data']}, {args.threads} thread(s), {args.repeats} repeats; load average "
        f"{summary['load_average'][0]} at the start, {summary['load_average'][1]} at the end"
    )
    for w in names:
        summary[w] = summarize(w, steps[w], results[w])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)


def summarize(workload_name: str, steps: int, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    plain = statistics.median(r["seconds"] for r in results["plain"])
    out: dict[str, Any] = {"steps": steps, "plain_seconds": plain, "step_ms": 1000 * plain / steps}
    print(
        f"{workload_name}: {steps} steps; plain loop {plain:.2f} s (median), {1000 * plain / steps:.2f} ms a step"
    )
    for name, rows in results.items():
        if name == "plain" or not rows:
            continue
        med = statistics.median(r["seconds"] for r in rows)
        own = statistics.median(r["own_seconds"] for r in rows)
        meas = statistics.median(r["measurements"] for r in rows)
        out[name] = {
            "seconds": med,
            "overhead_wall": (med - plain) / plain,
            "overhead_accounted": own / plain,
            "curvature_accounted": statistics.median(r["curvature_seconds"] for r in rows) / plain,
            "overhead_in_run": statistics.median(r["in_run"] for r in rows),
            "analyses": statistics.median(r["analyses"] for r in rows),
            "curvature_measurements": meas,
            "curvature_in_run": statistics.median(r["curvature_in_run"] for r in rows),
            "findings": rows[-1]["findings"],
            "sharpness_last_run": rows[-1]["sharpness"],
        }
        top = max(rows[-1]["sharpness"], key=lambda m: m[1], default=None)
        # does the cadence see the sharpening? the first measurement after step 0, in every run
        firsts = [next((m for m in r["sharpness"] if m[0] > 0), None) for r in rows]
        out[name]["first_after_step_0"] = firsts
        print(
            f"{name:>14}: {med:.2f} s, overhead {(med - plain) / plain:+.1%} wall-clock, "
            f"{own / plain:.1%} accounted by traindoc ({out[name]['overhead_in_run']:.1%} of its own run's "
            f"training time, curvature {out[name]['curvature_in_run']:.1%}); {meas:g} lambda_max measurements"
            + (f" (largest {top[1]:.3g} at step {top[0]:g})" if top else "")
            + (
                "; first after step 0: " + ", ".join(f"{m[1]:.3g} at {m[0]:g}" for m in firsts if m)
                if any(firsts)
                else ""
            )
            + f"; findings {rows[-1]['findings']}"
        )
    return out


if __name__ == "__main__":
    main()
