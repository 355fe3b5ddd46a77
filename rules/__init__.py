"""traindoc's knowledge base: the diagnostic flowchart as data.

`KNOWLEDGE` is validated on import: a rule naming an unknown question or finding fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.findings import FINDINGS
from rules.flowchart import RULES
from rules.questions import QUESTIONS
from rules.schema import (
    ANSWER_VALUES,
    UNANSWERED,
    AnswerValue,
    Ask,
    Conclude,
    Condition,
    Finding,
    Question,
    Rule,
)

__all__ = [
    "ANSWER_VALUES",
    "KNOWLEDGE",
    "UNANSWERED",
    "AnswerValue",
    "Ask",
    "Conclude",
    "Condition",
    "Finding",
    "Knowledge",
    "KnowledgeError",
    "Question",
    "Rule",
]


class KnowledgeError(ValueError):
    """The knowledge base is inconsistent (a programming error, caught at import)."""


@dataclass(frozen=True)
class Knowledge:
    questions: dict[str, Question]
    findings: dict[str, Finding]
    rules: tuple[Rule, ...]

    @classmethod
    def build(
        cls, questions: tuple[Question, ...], findings: tuple[Finding, ...], rules: tuple[Rule, ...]
    ) -> Knowledge:
        q = {item.id: item for item in questions}
        f = {item.id: item for item in findings}
        if len(q) != len(questions) or len(f) != len(findings):
            raise KnowledgeError("duplicate question or finding id")
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise KnowledgeError("duplicate rule name")
        for rule in rules:
            for cond in rule.when:
                known = q if cond.kind == "answer" else f
                if cond.id not in known:
                    raise KnowledgeError(f"rule {rule.name}: unknown {cond.kind} {cond.id!r}")
                if cond.kind == "answer" and cond.value not in ANSWER_VALUES:
                    raise KnowledgeError(f"rule {rule.name}: {cond.id} has no value {cond.value!r}")
            target = rule.then.question if isinstance(rule.then, Ask) else rule.then.finding
            if target not in (q if isinstance(rule.then, Ask) else f):
                raise KnowledgeError(f"rule {rule.name}: unknown target {target!r}")
        return cls(questions=q, findings=f, rules=rules)


KNOWLEDGE = Knowledge.build(QUESTIONS, FINDINGS, RULES)

# marks this folder as traindoc's own package (checked at start-up: traindoc/_packages.py)
__traindoc__ = True
