"""traindoc's knowledge base: the diagnostic flowchart as data.

`KNOWLEDGE` is validated on import: a rule naming an unknown question or finding fails loudly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# The knowledge base loads on first use (PEP 562 `__getattr__` below), not when a submodule such as
# `rules.judgements` is imported: `traindoc --help` reads the probes' option defaults from
# rules.judgements and must not pay for building and validating the flowchart (tests/public/test_startup.py).
if TYPE_CHECKING:
    from rules.schema import (
        ANSWER_VALUES,
        UNANSWERED,
        AnswerValue,
        Ask,
        Conclude,
        Condition,
        Finding,
        FindingDefinition,
        Question,
        Rule,
    )

    KNOWLEDGE: Knowledge
_SCHEMA_NAMES = frozenset(
    {
        "ANSWER_VALUES",
        "UNANSWERED",
        "AnswerValue",
        "Ask",
        "Conclude",
        "Condition",
        "Finding",
        "FindingDefinition",
        "Question",
        "Rule",
    }
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
    "FindingDefinition",
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
    findings: dict[str, FindingDefinition]
    rules: tuple[Rule, ...]

    @classmethod
    def build(
        cls, questions: tuple[Question, ...], findings: tuple[FindingDefinition, ...], rules: tuple[Rule, ...]
    ) -> Knowledge:
        from rules.schema import ANSWER_VALUES, Ask

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


def __getattr__(name: str) -> Any:
    if name == "KNOWLEDGE":
        from rules.findings import FINDINGS
        from rules.flowchart import RULES
        from rules.questions import QUESTIONS

        value: Any = Knowledge.build(QUESTIONS, FINDINGS, RULES)  # validated here, on first use
    elif name in _SCHEMA_NAMES:
        value = getattr(importlib.import_module("rules.schema"), name)
    else:
        raise AttributeError(f"module 'rules' has no attribute {name!r}")
    globals()[name] = value  # later uses skip this function
    return value


# marks this folder as traindoc's own package (checked at start-up: traindoc/_packages.py)
__traindoc__ = True
