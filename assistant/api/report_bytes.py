"""A report's JSON spliced from the JSON of its parts, each part serialised once (issue 19).

Why: every change answers with the session's whole report, and most of it is made of parts that do
not change from one report to the next: the answers (never changed once made), the pending questions
and the evidence-free findings (frozen, shared by every report of the same derivation,
assistant/session.py). pydantic-core pays a fixed cost per model it serialises, so serialising the
whole report again for each change cost more than deriving it. Here each part's JSON is kept per part
object, and a report's JSON is those bytes joined in the model's field order.

The bytes are exactly `Report.__pydantic_serializer__.to_json(report)`: the same serialiser makes
each part, the scalars go through pydantic-core's own `to_json`, and the field order, the absence of
aliases and custom serialisers are asserted by tests/service/test_report_bytes.py, which also compares
the bytes over every leaf path and every kind of change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from assistant.kept_json import KeptJSON
from assistant.models import Answer, Disagreement, Finding, QuestionPublic, Report

# the fields in the order the model serialises them; the splice below follows it (a test pins it)
FIELDS = (
    "schema_version",
    "session_id",
    "answers",
    "inactive_answers",
    "pending",
    "findings",
    "notes",
    "complete",
    "disagreements",
    "engine",
)

# Each part's JSON, kept per part object (answers are never changed once made, questions and
# findings are frozen)
_kept = KeptJSON(8192)

_dump_answer = Answer.__pydantic_serializer__.to_json
_dump_question = QuestionPublic.__pydantic_serializer__.to_json
_dump_finding = Finding.__pydantic_serializer__.to_json
_dump_disagreements = TypeAdapter(list[Disagreement]).serializer.to_json


def _answers(answers: Mapping[str, Answer]) -> bytes:
    if not answers:
        return b"{}"
    return b"{" + b",".join(to_json(q) + b":" + _kept(a, _dump_answer) for q, a in answers.items()) + b"}"


def _list(parts: list[Any], dump: Callable[[Any], bytes]) -> bytes:
    return b"[" + b",".join(_kept(p, dump) for p in parts) + b"]"


def report_json(report: Report) -> bytes:
    """`Report.__pydantic_serializer__.to_json(report)`, from the parts' kept JSON."""
    return b"".join(
        (
            b'{"schema_version":',
            to_json(report.schema_version),
            b',"session_id":',
            to_json(report.session_id),
            b',"answers":',
            _answers(report.answers),
            b',"inactive_answers":',
            _answers(report.inactive_answers),
            b',"pending":',
            _list(report.pending, _dump_question),
            b',"findings":',
            _list(report.findings, _dump_finding),
            b',"notes":',
            to_json(report.notes),
            b',"complete":',
            b"true" if report.complete else b"false",
            b',"disagreements":',
            _dump_disagreements(report.disagreements) if report.disagreements else b"[]",
            b',"engine":',
            to_json(report.engine),
            b"}",
        )
    )
