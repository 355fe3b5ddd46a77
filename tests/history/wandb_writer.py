"""Writes W&B runs with the REAL wandb package in offline mode, so our decoder of `run-*.wandb` logs is
tested against bytes it did not produce. Run with a python that has wandb installed (a side venv:
the project does not depend on wandb):

    python -m venv /tmp/wb && /tmp/wb/bin/pip install wandb
    /tmp/wb/bin/python tests/history/wandb_writer.py OUT_DIR KIND

KIND:
- overfit: config num_classes=10; per epoch train/loss (falls from ln 10 to ~0.15), val/loss (falls to
  0.9 at epoch 6, then rises), val/acc, lr; a one-off summary best_val_loss. The committed fixture
  tests/history/data/wandb_overfit/ was written by this (wandb 0.31.0).
- nan: train/loss turns NaN at step 40 and stays NaN; val/loss ends in NaN.
- long: 3,000 steps of train/loss plus one step with 3,000 extra keys (a record over 32 KiB, so it
  spans blocks: FIRST/MIDDLE/LAST chunks).
Prints the values it logged as JSON on stdout (the ground truth for the test).
"""

from __future__ import annotations

import json
import math
import os
import sys


def main(out: str, kind: str) -> None:
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    logged: dict[str, list[float | None]] = {}
    # no machine facts, paths, git or code in the log: the fixture is committed
    quiet = wandb.Settings(
        disable_git=True,
        disable_code=True,
        save_code=False,
        x_disable_stats=True,
        x_disable_meta=True,
        x_disable_machine_info=True,
    )

    def log(row: dict[str, float]) -> None:
        run.log(row)
        for k, v in row.items():
            logged.setdefault(k, []).append(None if isinstance(v, float) and math.isnan(v) else v)

    if kind == "overfit":
        run = wandb.init(
            mode="offline", dir=out, project="traindoc", settings=quiet, config={"num_classes": 10, "lr": 0.1}
        )
        for epoch in range(16):
            train = 0.15 + (math.log(10) - 0.15) * math.exp(-0.35 * epoch)
            val = (
                0.9 + 0.04 * (epoch - 6) ** 2 if epoch >= 6 else 0.9 + (math.log(10) - 0.9) * (6 - epoch) / 6
            )
            log(
                {"train/loss": train, "val/loss": val, "val/acc": 0.1 + 0.05 * min(epoch, 10), "epoch": epoch}
            )
        run.summary["best_val_loss"] = 0.9
    elif kind == "nan":
        run = wandb.init(
            mode="offline", dir=out, project="traindoc", settings=quiet, config={"num_labels": 3}
        )
        for step in range(60):
            loss = 1.1 * math.exp(-step / 30) if step < 40 else float("nan")
            row = {"train/loss": loss}
            if step % 10 == 9:
                row["val/loss"] = 1.0 if step < 40 else float("nan")
            log(row)
    elif kind == "long":
        run = wandb.init(mode="offline", dir=out, project="traindoc", settings=quiet)
        for step in range(3000):
            log({"train/loss": 2.0 / (1 + step / 100)})
        run.log({f"extra/metric_{i:04d}": float(i) for i in range(3000)})
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    run.finish()
    json.dump({"logged": logged, "run_dir": str(run.dir).rsplit("/files", 1)[0]}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
