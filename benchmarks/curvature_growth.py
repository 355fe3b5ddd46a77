"""How the time and memory of a Hessian-vector product grow with the samples and the parameters
(issue 18: "how time and memory grow with samples and parameters (a table and the exponent)").

    python -m benchmarks.curvature_growth [--repeats 3] [--json out.json]

traindoc's product over the data in batches (`PiecewiseHessianOperator`, one batch's graph rebuilt at
a time: the bounded-memory mode) and PyHessian 0.1's data-loader product (`dataloader_hv_product`:
the same work), on the same MLP, batches and vector, each configuration in a FRESH process (so the
peak resident-set growth is not hidden by an earlier configuration's freed memory). Two sweeps: the
samples at a fixed model, the parameters (hidden width) at fixed samples. The exponent is the slope of
log(value) against log(samples or parameters), least squares over the sweep. Synthetic data (time
and memory do not depend on the labels).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from functools import partial
from typing import Any

BATCH = 256
INPUT = 64
CLASSES = 10
SAMPLE_SWEEP = (1024, 4096, 16384)  # at width 256
WIDTH_SWEEP = (64, 256, 1024)  # at 2,048 samples


def _model(width: int) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Linear(INPUT, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, CLASSES)
    )


def measure_one(tool: str, samples: int, width: int, repeats: int) -> dict[str, Any]:
    """In this (fresh) process: seconds per product and peak RSS growth over the products."""
    import torch
    from torch import nn

    from benchmarks.curvature_tools import peak_rss
    from probes.curvature.hessian import PiecewiseHessianOperator
    from probes.curvature.measure import piece_loss

    torch.manual_seed(0)
    model = _model(width).eval()
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(samples, INPUT, generator=g)
    y = torch.randint(0, CLASSES, (samples,), generator=g)
    params = [p for p in model.parameters()]
    n = sum(p.numel() for p in params)
    v = torch.randn(n, generator=torch.Generator().manual_seed(3))
    xs, ys = x.split(BATCH), y.split(BATCH)
    if tool == "traindoc":
        pieces = [
            partial(piece_loss, model, loss_fn, a, b, i) for i, (a, b) in enumerate(zip(xs, ys, strict=True))
        ]
        op = PiecewiseHessianOperator(
            pieces, [len(a) for a in xs], list(model.named_parameters()), graph="recompute"
        )

        def product() -> Any:
            return op(v)
    else:
        ph = importlib.import_module("pyhessian.hessian")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = ph.hessian(model, loss_fn, dataloader=list(zip(xs, ys, strict=True)), cuda=False)
        vs = [t.view_as(p) for t, p in zip(v.split([p.numel() for p in h.params]), h.params, strict=True)]

        def product() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return h.dataloader_hv_product(vs)

    def timed() -> list[float]:
        product()  # warm-up, inside the memory measurement: its graph is the peak to see
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product()
            times.append(time.perf_counter() - start)
        return times

    times, _, peak = peak_rss(timed)
    return {
        "tool": tool,
        "samples": samples,
        "width": width,
        "parameters": n,
        "seconds_per_product": statistics.median(times),
        "peak_rss_growth_mib": peak / 2**20,
    }


def _fresh(tool: str, samples: int, width: int, repeats: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.curvature_growth",
            "--one",
            tool,
            str(samples),
            str(width),
            str(repeats),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx, ly = [math.log(a) for a in xs], [math.log(max(b, 1e-12)) for b in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument(
        "--one", nargs=4, metavar=("TOOL", "SAMPLES", "WIDTH", "REPEATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        tool, samples, width, repeats = args.one
        print(json.dumps(measure_one(tool, int(samples), int(width), int(repeats))))
        return
    tools = ["traindoc"]
    try:
        importlib.import_module("pyhessian")
        tools.append("pyhessian")
    except ImportError:
        print("PyHessian not installed (pip install pyhessian==0.1): traindoc only", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for sweep, configs in (
        ("samples", [(s, 256) for s in SAMPLE_SWEEP]),
        ("parameters", [(2048, w) for w in WIDTH_SWEEP]),
    ):
        for samples, width in configs:
            for tool in tools:  # interleaved: the same configuration back to back
                row = _fresh(tool, samples, width, args.repeats)
                row["sweep"] = sweep
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(
        f"load average {' '.join(load)}; batches of {BATCH}; median of {args.repeats} products after a warm-up\n"
    )
    print("| sweep | tool | samples | parameters | s/product | peak RSS growth |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['sweep']} | {r['tool']} | {r['samples']:,} | {r['parameters']:,} | "
            f"{r['seconds_per_product']:.4f} | {r['peak_rss_growth_mib']:.1f} MiB |"
        )
    print("\n| tool | time vs samples | memory vs samples | time vs parameters | memory vs parameters |")
    print("| --- | --- | --- | --- | --- |")
    for tool in tools:
        by = {
            s: [r for r in rows if r["tool"] == tool and r["sweep"] == s] for s in ("samples", "parameters")
        }
        cells = []
        for sweep, key in (("samples", "samples"), ("parameters", "parameters")):
            xs = [float(r[key]) for r in by[sweep]]
            cells.append(f"{exponent(xs, [r['seconds_per_product'] for r in by[sweep]]):.2f}")
            cells.append(f"{exponent(xs, [r['peak_rss_growth_mib'] for r in by[sweep]]):.2f}")
        print(f"| {tool} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": load, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
