"""Every combination of answers (yes/no/unsure/unanswered) over ALL questions, measured-only ones
included: 4^10 = 1,048,576 sets, each derived by the engine and settled as a session settles it
(answers off the path dropped), then checked against the flowchart walked by hand
(tests/core/flowchart_walk.py) and against invariants that hold whatever the rules say.

The full sweep runs the pure-Python evaluator (durable-rules takes ~2-4 ms per derivation here,
over an hour for 4^10); test_engine_equivalence.py shows durable derives the same on every
combination of the questions that can influence each rule. A seeded sample runs in the fast suite.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

import pytest

from assistant.engine import FlowchartEngine
from assistant.session import settle
from rules import KNOWLEDGE
from tests.core.flowchart_walk import ORDER, walk

VALUES = ("yes", "no", "unsure", "unanswered")
# leaves of one branch of the flowchart: at most one of each group at a time
BRANCHES = (
    {"model_bias", "optimization_issue"},
    {"not_at_critical_point", "saddle_point", "local_minimum"},
    {"healthy", "healthy_without_test", "overfitting", "mismatch"},
)
TRAINING_LARGE = {
    "model_bias",
    "optimization_issue",
    "not_at_critical_point",
    "saddle_point",
    "local_minimum",
}
HELD_OUT = {"healthy", "healthy_without_test", "overfitting", "mismatch"}
MEASURED_ONLY = {q for q, spec in KNOWLEDGE.questions.items() if not spec.asked}


def combinations() -> Iterable[dict[str, str]]:
    for values in itertools.product(VALUES, repeat=len(ORDER)):
        yield {q: v for q, v in zip(ORDER, values, strict=True) if v != "unanswered"}


def check(engine: FlowchartEngine, answers: dict[str, str], checked: set | None = None) -> None:
    """Compare with the hand-walked flowchart; then the invariants, once per settled answer set
    (`checked` remembers those already seen: many raw answer sets settle to the same one)."""
    active, derivation = settle(engine, answers)
    findings = set(derivation.findings)
    pending = [q for q in derivation.asked if active.get(q, "unanswered") in ("unanswered", "unsure")]
    expected, expected_pending, path = walk(answers)
    context = (answers, sorted(findings), pending)
    assert findings == expected, context
    assert pending == expected_pending, context  # same questions, in the lecture's order
    assert set(derivation.asked) == path, context
    if checked is not None:
        key = tuple(sorted(active.items()))
        if key in checked:
            return
        checked.add(key)
    for branch in BRANCHES:
        assert len(findings & branch) <= 1, context
    assert not (findings & TRAINING_LARGE and findings & HELD_OUT), context
    # every pending question is on the path, and every answer that counted was on it
    assert set(pending) <= set(derivation.asked), context
    assert set(active) <= path | MEASURED_ONLY, context
    for finding in findings:
        chain = derivation.chain(finding)
        assert chain and chain[-1].target == finding, context
        concluding = {d.rule for d in derivation.concluded_by(finding)}
        assert concluding <= {d.rule for d in chain}, context  # every rule that concluded it is named
        used = {q: v for d in chain for q, v in d.answers.items() if v != "unanswered"}
        assert all(active.get(q) == v for q, v in used.items()), context


def test_seeded_sample_of_combinations() -> None:
    engine = FlowchartEngine(engine="python", cache_size=0)
    rng = random.Random(10)
    for _ in range(3000):
        answers = {q: v for q in ORDER if (v := rng.choice(VALUES)) != "unanswered"}
        check(engine, answers)


@pytest.mark.slow
def test_every_combination_of_answers() -> None:
    # the memo only spares re-deriving the few distinct settled answer sets; every one of the
    # 4^10 raw answer sets is derived afresh (each key is new)
    engine = FlowchartEngine(engine="python", cache_size=65536)
    count, checked = 0, set()
    for answers in combinations():
        check(engine, answers, checked)
        count += 1
    assert count == 4 ** len(KNOWLEDGE.questions)
