"""The true lambda_max trajectory of benchmarks/bench_watch.py's MLP run: the yardstick for "does the
default cadence see the progressive sharpening?".

The same training as bench_watch's loop (seed 0, digits, SGD lr 0.05 momentum 0.9, batch 64), with
lambda_max on the same held batch (the first 64 training examples) by Lanczos to 1e-6 (up to 60
products) every 50 steps up to step 1,500 and every 100 after. Measured once (session 5): 0.48 at
step 0, 12.7 at step 50, 5-11 until step 900, 3.5 at 1,000, then a slow decay to 0.90 at 4,000; the
threshold (2 (1 + 0.9) / 0.05) is 76, so the run stays far from the edge of stability. The sharpening
a cadence can miss is steps 50-1,000.

Run:  python benchmarks/watch_sharpening_reference.py [--steps 4000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import torch
from bench_watch import digits, workload  # run from the repository root: python benchmarks/...

from probes.live import sharpness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, x, y = workload("mlp")
    xt, yt = x[:1400], y[:1400]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    held = (xt[:64].clone(), yt[:64].clone())
    out: list[dict[str, float | bool | None]] = []

    def reference(step: int) -> None:
        s = sharpness(
            model, lambda: loss_fn(model(held[0]), held[1]), opt, step=step, max_hvp=60, tolerance=1e-6
        )
        assert s is not None
        out.append(
            {"step": step, "lambda_max": s.lambda_max, "converged": s.converged, "threshold": s.threshold}
        )
        print(
            f"step {step}: lambda_max {s.lambda_max:.4g} ({'converged' if s.converged else 'not converged'})"
        )

    reference(0)
    per_epoch = 1400 // 64
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(xt), (64,))  # the same draws as bench_watch's loop
        loss = loss_fn(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % per_epoch == 0:
            with torch.no_grad():  # bench_watch evaluates here; no random draws, kept for fidelity
                loss_fn(model(x[1400:]), y[1400:])
        if step % 100 == 0 or (step < 1500 and step % 50 == 0):
            reference(step)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"data": digits()[2], "reference": out}, f, indent=2)


if __name__ == "__main__":
    main()
