"""Benchmark: trying the remedies for each demo's findings, as a multiple of one plain training run.

    python benchmarks/bench_remedies.py              # print the table
    python benchmarks/bench_remedies.py --write      # also write it into docs/remedies.md

Per demo, in process and warm (imports and torch's first-step initialisation paid before timing),
one thread (TRAINDOC_THREADS=1, the test machine's cores are shared): the median of `repeats` plain
training runs (`train_model(setup)`), and `try_remedies` on a fresh ProbeContext for the demo's
expected findings, alone (the baseline trained by the remedies themselves) and after the automatic
diagnosis (sharing its trained models, as `traindoc remedies` and `diagnose --try-remedies` do).
Reported: seconds, the ratio to one training run, and the cost the report counts in training runs.
Goal (issue 17): about 6x one training run per finding.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "remedies.md"
START, END = "<!-- bench_remedies:start -->", "<!-- bench_remedies:end -->"


def measure(name: str, repeats: int) -> dict[str, float]:
    from assistant.autorun import run_automatic
    from assistant.session import Session
    from probes.context import ProbeContext
    from probes.demos import demo_setup, expected_findings
    from probes.remedies.run import try_remedies
    from probes.training import train_model

    setup = demo_setup(name)
    train_model(setup)  # warm-up
    one = statistics.median(_timed(lambda: train_model(setup)) for _ in range(repeats))
    findings = list(expected_findings(name))
    started = time.perf_counter()
    alone = try_remedies(ProbeContext(setup), findings)
    alone_s = time.perf_counter() - started
    ctx = ProbeContext(setup)
    run_automatic(Session(), ctx)
    started = time.perf_counter()
    shared = try_remedies(ctx, findings)
    shared_s = time.perf_counter() - started
    return {
        "one": one,
        "alone": alone_s,
        "alone_ratio": alone_s / one,
        "alone_runs": alone.cost_runs,
        "shared": shared_s,
        "shared_ratio": shared_s / one,
        "shared_runs": shared.cost_runs,
        "findings": len(findings),
        "tried": sum(1 for r in alone.remedies if r.status not in ("not_tried", "skipped")),
        "best": alone.best
        or (
            "nothing helps"
            if alone.remedies and any(r.status != "not_tried" for r in alone.remedies)
            else "nothing to try"
        ),
    }


def _timed(fn) -> float:  # noqa: ANN001
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def table(rows: dict[str, dict]) -> str:
    lines = [
        "| demo | findings | trials | one run (s) | remedies alone (s, x one run, runs counted) | after the diagnosis "
        "(s, x one run, runs counted) | best |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['findings']} | {r['tried']} | {r['one']:.2f} | {r['alone']:.1f} s, "
            f"{r['alone_ratio']:.1f}x, {r['alone_runs']:g} | {r['shared']:.1f} s, {r['shared_ratio']:.1f}x, "
            f"{r['shared_runs']:g} | {r['best']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demos", default="")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from probes.demos import DEMOS

    names = [n for n in (args.demos.split(",") if args.demos else DEMOS) if n]
    rows = {name: measure(name, args.repeats) for name in names}
    text = table(rows)
    machine = f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}, 1 thread"
    out = f"{text}\n\nMeasured {time.strftime('%Y-%m-%d')} on {machine}."
    print(out)
    if args.write:
        doc = DOC.read_text()
        head, _, rest = doc.partition(START)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{START}\n{out}\n{END}{tail}")


if __name__ == "__main__":
    main()
