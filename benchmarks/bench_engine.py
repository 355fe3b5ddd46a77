"""Rule-engine benchmark: one derivation through durable-rules and through the pure-Python evaluator.

Both derive the same thing (tests/core/test_engine_equivalence.py); this measures what each costs,
uncached (the engine's memo off), on a fixed seeded sample of whole answer sets, in CPU time so that
other processes on a shared machine do not inflate the figure. Also: loading a saddle-point
answers file into a session and deriving its report (the path grown from the start: several
derivations each), with the memo on and off; and what the service does for every request that reads a
session: replay its stored inputs into a `Session` on the process's engine and derive the report
(`service_replay_and_report_us`; the engine's own memo is the only one since issue 13 removed the
service's second memo, `MemoEngine`).

Run:  python benchmarks/bench_engine.py [--samples 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from typing import Any

from assistant.engine import FlowchartEngine, default_engine, durable_available
from assistant.session import Session
from rules import KNOWLEDGE

VALUES = ("yes", "no", "unsure", "unanswered")


def answer_sets(n: int, seed: int = 12) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {q: v for q in KNOWLEDGE.questions if (v := rng.choice(VALUES)) != "unanswered"} for _ in range(n)
    ]


def per_call_us(fn: Any, items: list[Any], repeats: int = 3) -> float:
    best = []
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            fn(item)
        best.append((time.process_time() - start) / len(items) * 1e6)
    return min(best)


def _load_and_report(engine: FlowchartEngine, answers: dict[str, str]) -> None:
    session = Session(engine=engine)
    session.load_answers(answers)
    session.report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    sets = answer_sets(args.samples)
    leaf = {"train_loss_large": "yes", "deeper_model_worse": "yes", "gradient_norm_small": "yes"}
    leaf["hessian_negative_eigenvalue"] = "yes"
    result: dict[str, Any] = {"python_version": platform.python_version(), "samples": args.samples}
    names = ["python", "durable"] if durable_available() else ["python"]
    for name in names:
        engine = FlowchartEngine(engine=name, cache_size=0)
        memo = FlowchartEngine(engine=name)
        result[name] = {
            "derivation_us": per_call_us(engine.evaluate, sets),
            "session_load_and_report_us_memo_off": per_call_us(
                lambda a, e=engine: _load_and_report(e, a), [leaf] * 200
            ),
            "session_load_and_report_us_memo_on": per_call_us(
                lambda a, e=memo: _load_and_report(e, a), [leaf] * 200
            ),
        }
    replayed = Session(engine=default_engine())
    replayed.load_answers(leaf)
    inputs = replayed.inputs
    result["service_engine"] = default_engine().name
    result["service_replay_and_report_us"] = per_call_us(
        lambda _: Session("s", inputs, engine=default_engine()).report(), [None] * 2000, repeats=5
    )
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
