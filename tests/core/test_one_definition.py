"""Each flowchart fact is defined once, in rules/, and everybody else reads it from there (issue 13).

Grep-style, like test_judgements_agree.py: the library's source is parsed (ast) and searched for
copies of the facts. Ground truth is the source text itself, not the code's output:

- the answer values ("yes", "no", "unsure" together) are spelled out only in rules/schema.py;
- a literal collection naming three or more question ids (a copied question order or a copied
  "which questions can X answer" set) stands only in rules/;
- which questions a probe answers is the question's `measured_by` (rules/questions.py): the registry
  reads it, and every question id a probe's (or the history reader's) code writes into its answers
  is one that rules/ says that probe can measure.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from probes.registry import PROBES
from rules import KNOWLEDGE
from rules.questions import QUESTION_ORDER, QUESTIONS, answered_by
from rules.schema import ANSWER_VALUES, HISTORY

REPO = Path(__file__).resolve().parents[2]
LIBRARY = ("assistant", "probes", "rules", "tui", "traindoc")
QUESTION_IDS = frozenset(KNOWLEDGE.questions)


def library_files() -> list[Path]:
    return sorted(p for package in LIBRARY for p in (REPO / package).rglob("*.py"))


def strings_of(node: ast.AST) -> list[str] | None:
    """The elements of a literal tuple/list/set (or a Literal[...] subscript) when all are strings."""
    if isinstance(node, ast.Subscript):
        node = node.slice
    if not isinstance(node, ast.Tuple | ast.List | ast.Set):
        return None
    values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return values if len(values) == len(node.elts) else None


def literal_collections() -> list[tuple[str, int, list[str]]]:
    found = []
    for path in library_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            values = strings_of(node)
            if values is not None:
                found.append((str(path.relative_to(REPO)), node.lineno, values))
    return found


def test_the_answer_values_are_spelled_out_once() -> None:
    copies = {
        (where, line) for where, line, values in literal_collections() if set(ANSWER_VALUES) <= set(values)
    }
    # rules/schema.py holds it twice on purpose: the Literal type and the tuple, on adjacent lines
    assert {where for where, _ in copies} == {"rules/schema.py"}, copies
    assert len(copies) == 2


def test_no_module_outside_rules_lists_question_ids() -> None:
    copies = [
        (where, line, values)
        for where, line, values in literal_collections()
        if not where.startswith("rules/") and len(QUESTION_IDS.intersection(values)) >= 3
    ]
    assert copies == []


def test_no_module_outside_rules_maps_questions_to_probes() -> None:
    """A dict literal from a question id to a probe's name (autorun's old MEASURED_BY) is a copy."""
    copies = []
    for path in library_files():
        where = str(path.relative_to(REPO))
        if not where.startswith("rules/"):
            copies += [(where, line) for line in question_probe_dicts(ast.parse(path.read_text(), where))]
    assert copies == []


def question_probe_dicts(tree: ast.Module) -> list[int]:
    """Lines of dict literals mapping a question id to a probe name, spelled out or through a
    module-level NAME = "..." constant."""
    named = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def value(node: ast.AST | None) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        return named.get(node.id) if isinstance(node, ast.Name) else None

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and any(
            value(k) in QUESTION_IDS and (value(v) in PROBES or value(v) == HISTORY)
            for k, v in zip(node.keys, node.values, strict=True)
        )
    ]


def test_the_search_would_catch_a_copy() -> None:
    """The searches above are not vacuous: they see a copied order and a Literal of the values."""
    copied = ast.parse("ORDER = ('train_loss_large', 'deeper_model_worse', 'gradient_norm_small')")
    literal = ast.parse("Value = Literal['yes', 'no', 'unsure']")
    found = [strings_of(n) for tree in (copied, literal) for n in ast.walk(tree)]
    assert ["train_loss_large", "deeper_model_worse", "gradient_norm_small"] in found
    assert list(ANSWER_VALUES) in found
    copied_map = ast.parse("Q = 'learning_rate_exceeds_stability'\nP = 'learning_rate'\nMEASURED_BY = {Q: P}")
    assert question_probe_dicts(copied_map) == [3]


def test_question_order_is_the_lecture_order_of_the_questions() -> None:
    assert QUESTION_ORDER == tuple(q.id for q in QUESTIONS) == tuple(KNOWLEDGE.questions)
    assert QUESTION_ORDER[0] == "train_loss_large"  # the flowchart starts at the training loss


def test_every_measurer_is_a_probe_or_the_history_reader() -> None:
    for q in QUESTIONS:
        assert q.probe == (q.measured_by[0] if q.measured_by else None)
        assert q.from_history == (HISTORY in q.measured_by)
        for name in q.measured_by:
            assert name == HISTORY or name in PROBES, (q.id, name)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_registry_reads_which_questions_a_probe_answers_from_rules(name: str) -> None:
    assert PROBES[name].answers == answered_by(name)


def written_answers(source_file: Path) -> set[str]:
    """Question ids the code writes into an `answers` mapping: answers["q"] = ..., answers={"q": ...},
    a function named for answers returning {"q": ...}, or ("q", ...) pairs a loop writes into it."""
    written: set[str] = set()
    for node in ast.walk(ast.parse(source_file.read_text())):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and ast.unparse(node.value).endswith("answers")
            and isinstance(node.slice, ast.Constant)
        ):
            written.add(str(node.slice.value))
        if isinstance(node, ast.keyword) and node.arg == "answers" and isinstance(node.value, ast.Dict):
            written |= {str(k.value) for k in node.value.keys if isinstance(k, ast.Constant)}
        if isinstance(node, ast.FunctionDef) and "answers" in node.name:  # def answers(m) -> {"q": ...}
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Dict):
                    written |= {str(k.value) for k in ret.value.keys if isinstance(k, ast.Constant)}
        if isinstance(node, ast.For) and "answers[" in ast.unparse(node):  # for q, ... in (("q", ...), ...)
            for pair in ast.walk(node.iter):
                if isinstance(pair, ast.Tuple) and pair.elts and isinstance(pair.elts[0], ast.Constant):
                    written.add(str(pair.elts[0].value))
    return written & QUESTION_IDS


def probe_sources(target: str) -> list[Path]:
    spec = importlib.util.find_spec(target.partition(":")[0])
    assert spec is not None and spec.origin is not None
    origin = Path(spec.origin)
    return sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]


@pytest.mark.parametrize("name", sorted(n for n, s in PROBES.items() if s.answers))
def test_what_a_probe_writes_is_what_rules_say_it_measures(name: str) -> None:
    written = set().union(*(written_answers(p) for p in probe_sources(PROBES[name].target)))
    assert written, f"found no answers written by {name}: the search would prove nothing"
    assert written <= set(answered_by(name)), written - set(answered_by(name))


def test_what_the_history_reader_writes_is_what_rules_say_it_measures() -> None:
    written = set().union(*(written_answers(p) for p in (REPO / "probes" / "history").glob("*.py")))
    assert {"loss_diverged", "test_set_available", "learning_rate_exceeds_stability"} <= written
    assert written <= set(answered_by(HISTORY)), written - set(answered_by(HISTORY))
