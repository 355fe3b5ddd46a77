"""What a derivation is, and the pure-Python forward-chaining evaluator of the same rule data.

durable-rules is the engine wherever it imports; on Python 3.13+ it cannot (its C extension calls
`PyEval_CallObject`, removed in 3.13) and this evaluator runs the SAME rules from `rules/` instead.
Both produce a `Derivation` in one canonical form (firings in rule order), so the two can be
compared whole — tests/core/test_engine_equivalence.py does, over every combination of answers.

The rules are monotone (a condition tests an answer, or that a finding was reached; nothing tests
that a finding was NOT reached), so forward chaining to the fixpoint has one result whatever the
order rules fire in: each rule fires at most once, with the one answer fact per question it matched.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from rules import UNANSWERED, Ask, Knowledge, Rule


@dataclass(frozen=True)
class Derived:
    """One rule firing: what it concluded or asked, and the premises it matched."""

    rule: str
    kind: str  # "ask" or "finding"
    target: str
    answers: dict[str, str]
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Derivation:
    """Everything the flowchart concludes from a set of answers (immutable: results are cached).

    `firings` are in the knowledge base's rule order, whichever engine produced them.
    """

    firings: tuple[Derived, ...] = ()
    question_order: tuple[str, ...] = ()

    @property
    def asked(self) -> list[str]:
        """Questions on the path, in the lecture's order (the order of rules/questions.py)."""
        return list(self._asked)

    @property
    def findings(self) -> list[str]:
        return list(self._findings)

    @functools.cached_property
    def _asked(self) -> tuple[str, ...]:
        asked = {f.target for f in self.firings if f.kind == "ask"}
        ordered = [q for q in self.question_order if q in asked]
        return tuple(ordered + sorted(asked.difference(ordered)))

    @functools.cached_property
    def _findings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.target for f in self.firings if f.kind == "finding"))

    def concluded_by(self, finding_id: str) -> list[Derived]:
        """Every firing that concluded `finding_id` (several rules may reach the same finding)."""
        return [f for f in self.firings if f.kind == "finding" and f.target == finding_id]

    def chain(self, finding_id: str) -> list[Derived]:
        """The rule firings that led to `finding_id`, in causal order (each after its premises):
        EVERY rule that concluded it, the firings behind the findings they built on, and the rules
        that asked the questions they used (a question asked only because of the finding being
        explained is left out: it cannot be part of its cause)."""
        out: list[Derived] = []
        done: set[str] = set()  # rule names: each rule fires at most once per derivation
        open_: dict[str, Derived] = {}

        def add(f: Derived) -> None:
            if f.rule in done or f.rule in open_:
                return
            open_[f.rule] = f
            for fid in f.findings:
                for g in self.concluded_by(fid):
                    add(g)
            for q in f.answers:
                for g in self.firings:
                    if g.kind == "ask" and g.target == q and not _builds_on_open(g, open_):
                        add(g)
            del open_[f.rule]
            done.add(f.rule)
            out.append(f)

        for f in self.concluded_by(finding_id):
            add(f)
        return out


def _builds_on_open(firing: Derived, open_: dict[str, Derived]) -> bool:
    return any(o.kind == "finding" and o.target in firing.findings for o in open_.values())


def rule_target(rule: Rule) -> tuple[str, str]:
    """("ask", question) or ("finding", finding) for a rule's conclusion."""
    if isinstance(rule.then, Ask):
        return "ask", rule.then.question
    return "finding", rule.then.finding


def canonical(
    knowledge: Knowledge, firings: list[Derived], index: Mapping[str, int] | None = None
) -> Derivation:
    """One order for a set of firings, whichever engine found them in whatever order.

    Each rule fires at most once per evaluation (one answer fact per question, each finding asserted
    once), so the rule's place in the knowledge base is a total order. `index` is `rule_index(...)`,
    passed by callers that evaluate often.
    """
    index = index or rule_index(knowledge)
    ordered = sorted(firings, key=lambda f: index[f.rule])
    return Derivation(firings=tuple(ordered), question_order=tuple(knowledge.questions))


def rule_index(knowledge: Knowledge) -> dict[str, int]:
    return {rule.name: i for i, rule in enumerate(knowledge.rules)}


class PythonEvaluator:
    """Forward chaining over `knowledge.rules` in plain Python: no C extension, any Python 3.

    Rules are visited in an order where every rule comes after the rules concluding the findings it
    needs (computed once), so one pass reaches the fixpoint; a cycle in the rule data would make that
    order impossible and is refused at construction.
    """

    name = "python"

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self._questions = tuple(knowledge.questions)
        self._index = rule_index(knowledge)
        # each rule once, compiled to plain tuples: (name, kind, target, answer tests, findings needed)
        self._compiled = [
            (
                rule.name,
                *rule_target(rule),
                tuple((c.id, c.value, c.negate) for c in rule.when if c.kind == "answer"),
                tuple(c.id for c in rule.when if c.kind == "finding"),
            )
            for rule in _dependency_order(knowledge.rules)
        ]

    def evaluate(self, answers: Mapping[str, str]) -> Derivation:
        values = {qid: answers.get(qid, UNANSWERED) for qid in self._questions}
        reached: set[str] = set()
        firings: list[Derived] = []
        for name, kind, target, tests, needs in self._compiled:
            if not reached.issuperset(needs):
                continue
            if any((values[qid] == value) == negate for qid, value, negate in tests):
                continue
            firings.append(Derived(name, kind, target, {qid: values[qid] for qid, _, _ in tests}, needs))
            if kind == "finding":
                reached.add(target)
        return canonical(self.knowledge, firings, self._index)


def _dependency_order(rules: tuple[Rule, ...]) -> list[Rule]:
    producers: dict[str, list[Rule]] = {}
    for rule in rules:
        kind, target = rule_target(rule)
        if kind == "finding":
            producers.setdefault(target, []).append(rule)
    order: list[Rule] = []
    state: dict[str, str] = {}

    def visit(rule: Rule) -> None:
        if state.get(rule.name) == "done":
            return
        if state.get(rule.name) == "visiting":
            raise ValueError(f"the rules conclude findings in a cycle through {rule.name}")
        state[rule.name] = "visiting"
        for cond in rule.when:
            if cond.kind == "finding":
                for producer in producers.get(cond.id, []):
                    visit(producer)
        state[rule.name] = "done"
        order.append(rule)

    for rule in rules:
        visit(rule)
    return order
