"""Reading and analysing a 100,000-step history (goal: under 2 s), in each format that can hold one.

    python benchmarks/bench_history.py            # prints a Markdown table for docs/history.md

Generates, in a temporary directory, the same synthetic run (100,000 training steps logged every
step, an evaluation every 1,000 steps, overfitting after step 40,000) as a Hugging Face
trainer_state.json, a Lightning metrics.csv and a TensorBoard event file (written with a small
encoder here, the way torch's SummaryWriter writes simple_value scalars), then times
`history_outcome` end to end (read + analyse + outcome), best of 3, and the plots of the result.
"""

from __future__ import annotations

import json
import math
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.plots import Curve, svg_plot, terminal_plot  # noqa: E402
from probes.history import analyse, history_outcome, load_history  # noqa: E402
from probes.history._protobuf import masked_crc32c  # noqa: E402

STEPS, EVAL_EVERY = 100_000, 1_000


def synthetic_run(seed: int = 0) -> tuple[list[float], list[tuple[int, float]]]:
    rng = random.Random(seed)
    train = [0.05 + 2.25 * math.exp(-s / 8000) + abs(rng.gauss(0, 0.05)) for s in range(STEPS)]
    val = []
    for s in range(EVAL_EVERY, STEPS + 1, EVAL_EVERY):
        v = 0.35 + 2.0 * math.exp(-s / 8000) + max(0.0, (s - 40_000) / 200_000)
        val.append((s, v))
    return train, val


def write_trainer_state(path: Path, train: list[float], val: list[tuple[int, float]]) -> None:
    log: list[dict] = []
    evals = dict(val)
    for s, loss in enumerate(train, 1):
        log.append(
            {"epoch": s / 10_000, "grad_norm": 1.0, "learning_rate": 1e-4, "loss": round(loss, 4), "step": s}
        )
        if s in evals:
            log.append(
                {"epoch": s / 10_000, "eval_loss": evals[s], "eval_accuracy": 0.9 - evals[s] / 10, "step": s}
            )
    path.write_text(json.dumps({"global_step": STEPS, "max_steps": STEPS, "log_history": log}, indent=2))


def write_lightning_csv(path: Path, train: list[float], val: list[tuple[int, float]]) -> None:
    evals = dict(val)
    lines = ["epoch,step,train_loss_step,val_loss,val_acc"]
    for s, loss in enumerate(train, 1):
        lines.append(f"{s // 10_000},{s},{loss},,")
        if s in evals:
            lines.append(f"{s // 10_000},{s},,{evals[s]},{0.9 - evals[s] / 10}")
    path.write_text("\n".join(lines) + "\n")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _event(step: int, tag: str, value: float) -> bytes:
    summary_value = _field(1, 2, tag.encode()) + _field(2, 5, struct.pack("<f", value))
    summary = _field(1, 2, summary_value)
    event = (
        _field(1, 1, struct.pack("<d", 1.7e9 + step)) + _field(2, 0, _varint(step)) + _field(5, 2, summary)
    )
    header = struct.pack("<Q", len(event))
    return header + struct.pack("<I", masked_crc32c(header)) + event + struct.pack("<I", masked_crc32c(event))


def write_tfevents(path: Path, train: list[float], val: list[tuple[int, float]]) -> None:
    with path.open("wb") as fh:
        for s, loss in enumerate(train, 1):
            fh.write(_event(s, "train/loss", loss))
        for s, v in val:
            fh.write(_event(s, "eval/loss", v))


def best_of(n: int, fn) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(n):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    train, val = synthetic_run()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {
            "HF trainer_state.json": folder / "trainer_state.json",
            "Lightning metrics.csv": folder / "metrics.csv",
            "TensorBoard event file": folder / "events.out.tfevents.bench",
        }
        write_trainer_state(files["HF trainer_state.json"], train, val)
        write_lightning_csv(files["Lightning metrics.csv"], train, val)
        write_tfevents(files["TensorBoard event file"], train, val)
        print("| format | file size | read | analyse | history_outcome (read + analyse + report) | answers |")
        print("|---|---|---|---|---|---|")
        outcome = None
        for name, path in files.items():
            t_read, history = best_of(3, lambda p=path: load_history(p))
            t_analyse, _ = best_of(3, lambda h=history: analyse(h))
            seconds, outcome = best_of(3, lambda p=path: history_outcome(str(p)))
            answers = ", ".join(f"{q}={v}" for q, v in outcome.answers.items())
            print(
                f"| {name} | {path.stat().st_size / 1e6:.1f} MB | {t_read:.2f} s | {t_analyse:.2f} s | "
                f"**{seconds:.2f} s** | {answers} |"
            )
        curves = [
            Curve(c["name"], c["steps"], [math.nan if v is None else v for v in c["values"]])
            for c in outcome.data["curves"]
        ]
        full = [
            Curve("train", list(range(1, STEPS + 1)), train),
            Curve("val", [s for s, _ in val], [v for _, v in val]),
        ]
        t_term, _ = best_of(3, lambda: terminal_plot(curves, color=True))
        t_svg, _ = best_of(3, lambda: svg_plot(full, log_y=True))
        print()
        print(
            f"terminal plot of the outcome's curves: {t_term * 1000:.1f} ms; SVG of the full 100,000 points: {t_svg * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
