"""Does the deciding goal change any decision? Every demo and test setup, several seeds, both goals.

    python benchmarks/decide_vs_accurate.py [--seeds 3]

For each setup and seed the model is trained once (the demo's own recipe) and the curvature
probe's measurement runs with goal="decide" and goal="accurate" on the same trained model. Prints
one row per run (classification, negative-eigenvalue answer, products) and exits 1 if any decision
differs. The figures go into docs/curvature.md.
"""

from __future__ import annotations

import argparse
import sys

import torch

from probes.context import ProbeContext
from probes.curvature import answers, step_rule
from probes.demos import DEMOS, demo_setup
from probes.measure import measure_curvature
from probes.setup import load_setup

TEST_SETUPS = ("tests/probes/setups/tiny_regression.py:setup", "tests/probes/setups/lecture_saddle.py:setup")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [
        (name, seed, lambda n=name, s=seed: demo_setup(n, s)) for name in DEMOS for seed in range(args.seeds)
    ]
    cases += [(path.split("/")[-1], 0, lambda p=path: load_setup(p)) for path in TEST_SETUPS]
    differ = 0
    print(
        "| setup | seed | parameters | decide: classification, products | accurate: classification, products | same answers |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seed, make in cases:
        setup = make()
        ctx = ProbeContext(setup)
        trained = ctx.trained()
        rows = {}
        for goal in ("decide", "accurate"):
            m = measure_curvature(
                trained.model,
                setup.loss,
                setup.train,
                goal=goal,
                optimizer=step_rule(setup, trained),
                seed=setup.seed,
            )
            rows[goal] = m
        d, a = rows["decide"], rows["accurate"]
        same = d.classification == a.classification and answers(d) == answers(a)
        if d.classification == "not_at_critical_point":  # lambda_min's sign decides nothing there
            same = d.classification == a.classification and (
                answers(d)["learning_rate_exceeds_stability"] == answers(a)["learning_rate_exceeds_stability"]
            )
        differ += not same
        print(
            f"| {name} | {seed} | {a.parameters} | {d.classification}, {d.hvp_count} | "
            f"{a.classification}, {a.hvp_count} | {'yes' if same else 'NO'} |",
            flush=True,
        )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
