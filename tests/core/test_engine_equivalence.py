"""durable-rules and the pure-Python evaluator derive the same thing from the same rule data:
findings, questions on the path, and every firing with the answers and findings it matched (so the
`because` chains are equal too).

durable costs ~2-4 ms a derivation here, so it cannot sweep all 4^10 answer sets in a test. What it
sweeps instead is exhaustive where it matters: for every rule, EVERY combination of the questions that
can influence whether that rule fires (its own, and those of the rules concluding the findings it
builds on, transitively), the other questions unanswered; plus a seeded sample of whole answer sets.
The Python evaluator alone then covers all 4^10 (test_exhaustive.py).
"""

from __future__ import annotations

import itertools
import random

import pytest

from assistant.engine import FlowchartEngine, durable_available
from assistant.evaluator import rule_target
from rules import KNOWLEDGE, Rule

pytestmark = pytest.mark.skipif(
    not durable_available(), reason="durable-rules does not import on this Python (3.13+)"
)

VALUES = ("yes", "no", "unsure", "unanswered")
ORDER = list(KNOWLEDGE.questions)


def influencing_questions(rule: Rule) -> set[str]:
    producers: dict[str, list[Rule]] = {}
    for r in KNOWLEDGE.rules:
        kind, target = rule_target(r)
        if kind == "finding":
            producers.setdefault(target, []).append(r)
    out: set[str] = set()
    todo, seen = [rule], set()
    while todo:
        r = todo.pop()
        if r.name in seen:
            continue
        seen.add(r.name)
        for cond in r.when:
            if cond.kind == "answer":
                out.add(cond.id)
            else:
                todo.extend(producers.get(cond.id, []))
    return out


def answer_sets() -> list[dict[str, str]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    out: list[dict[str, str]] = []
    for rule in KNOWLEDGE.rules:
        questions = sorted(influencing_questions(rule), key=ORDER.index)
        for values in itertools.product(VALUES, repeat=len(questions)):
            answers = {q: v for q, v in zip(questions, values, strict=True) if v != "unanswered"}
            key = tuple(sorted(answers.items()))
            if key not in seen:
                seen.add(key)
                out.append(answers)
    return out


@pytest.fixture(scope="module")
def engines() -> tuple[FlowchartEngine, FlowchartEngine]:
    return FlowchartEngine(engine="durable", cache_size=0), FlowchartEngine(engine="python", cache_size=0)


def test_the_sweep_is_what_it_says() -> None:
    sizes = {rule.name: len(influencing_questions(rule)) for rule in KNOWLEDGE.rules}
    # the deepest rules depend on six questions (the saddle point: training, depth, the easy model,
    # the learning rate, gradient and Hessian): 4^6 = 4096 combinations for each of them
    assert max(sizes.values()) == 6
    assert influencing_questions(
        next(r for r in KNOWLEDGE.rules if r.name == "negative_curvature_is_saddle")
    ) == {
        "train_loss_large",
        "deeper_model_worse",
        "simple_model_better",
        "learning_rate_exceeds_stability",
        "gradient_norm_small",
        "hessian_negative_eigenvalue",
    }


def test_seeded_whole_answer_sets_derive_alike(engines) -> None:
    durable, python = engines
    assert durable.name.startswith("durable-rules ") and python.name == "python"
    rng = random.Random(12)
    for _ in range(300):
        answers = {q: v for q in ORDER if (v := rng.choice(VALUES)) != "unanswered"}
        assert durable.evaluate(answers) == python.evaluate(answers), answers


@pytest.mark.slow
def test_every_combination_that_can_change_a_rule_derives_alike(engines) -> None:
    durable, python = engines
    sets = answer_sets()
    assert len(sets) > 4000
    for answers in sets:
        d, p = durable.evaluate(answers), python.evaluate(answers)
        assert d == p, answers  # firings (rule, target, matched answers and findings), in one order
        for finding in d.findings:
            assert d.chain(finding) == p.chain(finding)
