"""A session's report is serialised once per change and reused, and every response is byte for byte
what the service sent before that (issue 19).

Ground truth: the bytes the service sent before the change, computed here the way it computed them
(copied from assistant/api/service.py at 404b2f2, `SessionService.public` and the routes'
`ModelResponse`): the whole `SessionPublic` / `Report` serialised by `model_dump_json()`, the report
derived from scratch by `reference_report` (the replay before the session kept one, on a separate
pure-Python engine; tests/core/test_session_replay_once.py). The finite space is walked whole: every
leaf path of the flowchart, with and without a measured answer first, and on every path each answer
changed, made unsure, withdrawn and undone, a note added and a measurement the user overrides: after
every change, the change's reply, `GET .../report` and `GET /sessions/{id}` must equal the reference,
so a report kept from before the change can never pass. The same is then checked on a real server
over HTTP, headers included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter

from assistant.api import report_bytes
from assistant.api.service import SessionService
from assistant.engine import FlowchartEngine
from assistant.errors import OffPathAnswer
from assistant.evidence import apply_outcome
from assistant.models import (
    Answer,
    AnswerInput,
    AnswerSource,
    Disagreement,
    Finding,
    QuestionPublic,
    Report,
    SessionInput,
)
from assistant.service_models import SessionCreate, SessionPublic, _SessionFields
from assistant.session import Session
from assistant.store import SessionRecord, Store, input_json, inputs_json
from probes.base import ProbeOutcome
from rules import KNOWLEDGE
from tests.core.test_session_replay_once import MEASURES, leaf_paths, reference_report
from tests.service.conftest import new_session

_inputs = TypeAdapter(list[SessionInput])


def main_report(rec: SessionRecord) -> Report:
    s = Session(rec.id, rec.inputs)
    s.notes = list(rec.notes)
    return reference_report(s)


def main_public(rec: SessionRecord) -> bytes:
    """SessionService.public + ModelResponse before the change (404b2f2)."""
    return (
        SessionPublic.model_construct(
            id=rec.id,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            setup=rec.setup,
            history=rec.history,
            report=main_report(rec),
            inputs=list(rec.inputs),
        )
        .model_dump_json()
        .encode()
    )


def outcome(answers: dict[str, str], warnings: Sequence[str] = ()) -> ProbeOutcome:
    return ProbeOutcome(
        probe="curvature",
        answers=answers,  # type: ignore[arg-type]
        summary="measured: " + ", ".join(f"{q}={v}" for q, v in answers.items()),
        rules=[f"{q} -> {v}" for q, v in answers.items()],
        warnings=list(warnings),
    )


def test_session_public_is_its_head_then_report_then_inputs() -> None:
    """What the splice in `public_json` relies on: field order, no aliases, no custom serialisers."""
    assert list(SessionPublic.model_fields) == [*_SessionFields.model_fields, "report", "inputs"]
    for name, spec in SessionPublic.model_fields.items():
        assert spec.alias is None and spec.serialization_alias is None, name
    assert not SessionPublic.__pydantic_decorators__.field_serializers
    assert not SessionPublic.__pydantic_decorators__.model_serializers


def test_the_report_splice_follows_the_models_fields() -> None:
    """What `report_json` relies on: the field order, no aliases, no custom serialisers (Report's and
    the parts' it keeps), so the joined bytes are the model serialiser's own."""
    assert tuple(Report.model_fields) == report_bytes.FIELDS
    for model in (Report, Answer, QuestionPublic, Finding, Disagreement):
        for name, spec in model.model_fields.items():
            assert spec.alias is None and spec.serialization_alias is None, (model, name)
        assert not model.__pydantic_decorators__.field_serializers, model
        assert not model.__pydantic_decorators__.model_serializers, model


def test_a_report_with_awkward_text_splices_to_the_models_bytes() -> None:
    """Quotes, escapes, control characters and non-ASCII text in notes, answers' notes and the session
    id; measured answers (evidence, disagreements); every kind of part at once."""
    odd = 'q"uote\\ back\nline \t\u0001 \u00e9\u4e2d\U0001f600 </script>'
    s = Session("id-" + odd)
    s.answer("train_loss_large", "yes", note=odd)
    apply_outcome(s, outcome({"deeper_model_worse": "no"}, [odd]), AnswerSource.probe)
    s.answer("deeper_model_worse", "yes", replace=True, note=odd)  # the user over the measurement
    s.notes = [odd, "", "plain"]
    report = s.report()
    assert report.disagreements and report.pending and report.notes
    assert report_bytes.report_json(report) == Report.__pydantic_serializer__.to_json(report)
    assert report_bytes.report_json(report) == report.model_dump_json().encode()


def test_inputs_are_serialised_once_and_joined_as_the_list_would_be() -> None:
    """`inputs_json` (each input's JSON kept, joined) gives the bytes of the list adapter's
    `dump_json`, on inputs of every kind: user and measured answers with evidence, notes with quotes,
    escapes and non-ASCII text, withdrawals; and an input is serialised once, then served kept."""
    s = Session("bytes")
    s.answer("train_loss_large", "yes", note='said "large"\nnewline \u00e9\u4e2d\U0001f600 \\ tab\t')
    apply_outcome(
        s, outcome({"deeper_model_worse": "yes", "gradient_norm_small": "no"}, ["w"]), AnswerSource.probe
    )
    s.withdraw("train_loss_large")
    s.answer("train_loss_large", "unsure", note="")
    s.answer("train_loss_large", "yes", replace=True)
    items = list(s.inputs)
    assert len({type(i) for i in items}) == 2  # answers and a withdrawal
    assert any(isinstance(i, AnswerInput) and i.answer.evidence is not None for i in items)  # measured
    for n in range(len(items) + 1):
        assert inputs_json(items[:n]) == _inputs.dump_json(items[:n])
    first = input_json(items[0])
    assert input_json(items[0]) is first  # kept, not serialised again
    copy = items[0].model_copy(deep=True)  # an equal input, another object: its own entry
    assert input_json(copy) == first and input_json(copy) is not first


def test_every_change_on_every_leaf_path_answers_the_bytes_it_did(tmp_path: Path) -> None:
    asyncio.run(_walk(tmp_path))


async def _walk(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal").open()
    service = SessionService(store, histories={}, setups={"quick": "x"}, cache_size=10_000, max_inputs=2000)
    engine = FlowchartEngine()
    steps = 0

    def check(sid: str, reply: bytes, what: str) -> bytes:
        nonlocal steps
        steps += 1
        rec = service.live(sid).record
        expected = main_public(rec)
        assert reply == expected, what
        assert service.get(sid) == expected, what
        assert service.report(sid) == main_report(rec).model_dump_json().encode(), what
        return reply

    try:
        for measure in [None, *MEASURES]:
            created = await service.create(SessionCreate())
            probe_sid = json.loads(created)["id"]
            check(probe_sid, created, "created")
            if measure:
                reply = await service.apply_outcomes(
                    probe_sid, [outcome(dict([measure]))], AnswerSource.probe
                )
                check(probe_sid, reply, f"{measure} measured")
            start = list(service.live(probe_sid).record.inputs)
            paths = list(leaf_paths(engine, start))
            assert len(paths) >= 5
            for path in paths:
                created = await service.create(SessionCreate(setup="quick"))
                sid = json.loads(created)["id"]
                check(sid, created, "created with a setup")
                if measure:
                    reply = await service.apply_outcomes(sid, [outcome(dict([measure]))], AnswerSource.probe)
                    check(sid, reply, f"{measure} measured first")
                for i, (q, value) in enumerate(path):
                    # the next question first: off the path until q is answered, refused, nothing changed
                    on_path = Session(inputs=service.live(sid).record.inputs, engine=engine).state()
                    later = [
                        n
                        for n, _ in path[i + 1 :]
                        if KNOWLEDGE.questions[n].asked
                        and n not in on_path.pending
                        and n not in on_path.answers
                    ]
                    if later:
                        with pytest.raises(OffPathAnswer):
                            await service.answer(sid, later[0], "yes", None, change=False)
                        check(sid, service.get(sid), f"{path} refused {later[0]} before {q}")
                    check(sid, await service.answer(sid, q, value, None, change=False), f"{path} {q}={value}")
                for q, value in reversed(path):
                    other = "no" if value == "yes" else "yes"
                    what = f"{measure} {path} {q}"
                    check(sid, await service.answer(sid, q, other, "changed", change=True), f"{what} changed")
                    check(sid, await service.answer(sid, q, "unsure", None, change=True), f"{what} unsure")
                    check(sid, await service.undo(sid), f"{what} undo unsure")
                    check(sid, await service.withdraw(sid, q), f"{what} withdrew")
                    check(sid, await service.undo(sid), f"{what} undo withdraw")
                    check(sid, await service.undo(sid), f"{what} undo change")
                # a measurement the user overrides (a disagreement and a note), then notes alone
                q, value = path[-1]
                other = "no" if value == "yes" else "yes"
                reply = await service.apply_outcomes(
                    sid, [outcome({q: other}, warnings=["a warning"])], AnswerSource.probe, notes=["a note"]
                )
                check(sid, reply, f"{path} overridden measurement")
                before = service.report(sid)
                assert await service.add_points(sid, [("loss", 1.0, 0.5)], ["loss rose"]) == 1
                check(sid, service.get(sid), f"{path} alert note")
                assert service.report(sid) != before  # the note is in the report read now
        assert steps > 500
        # a fresh service reads every session back from disk: the same bytes, derived again
        again = SessionService(store, histories={}, setups={"quick": "x"}, cache_size=10_000, max_inputs=2000)
        for summary in store.list_sessions(1000):
            rec = again.live(summary.id).record
            assert again.get(summary.id) == main_public(rec)
            assert again.report(summary.id) == service.report(summary.id)
    finally:
        store.close()


def test_a_record_changed_in_place_is_derived_again(tmp_path: Path) -> None:
    """The kept report is keyed by the record's state: an append in place, a new list, a new stamp."""

    async def run() -> None:
        store = Store(tmp_path / "s.db", synchronous="normal").open()
        try:
            service = SessionService(store, histories={}, setups={}, cache_size=10, max_inputs=2000)
            sid = json.loads(await service.create(SessionCreate()))["id"]
            await service.answer(sid, "train_loss_large", "yes", None, change=False)
            live = service.live(sid)
            rec = live.record
            kept = service.report(sid)
            assert service.report(sid) is kept  # the same bytes object: serialised once
            rec.inputs.pop()  # in place, same list object
            assert json.loads(service.report(sid))["answers"] == {}
            assert service.report(sid) == main_report(rec).model_dump_json().encode()
            rec.notes = ["a note"]  # a new list
            assert json.loads(service.report(sid))["notes"] == ["a note"]
            rec.notes.append("another")  # in place
            assert json.loads(service.report(sid))["notes"] == ["a note", "another"]
            before = service.report(sid)
            rec.updated_at = rec.updated_at.replace(microsecond=(rec.updated_at.microsecond + 1) % 10**6)
            assert service.report(sid) is not before and service.report(sid) == before
            assert service.get(sid) == main_public(rec)
        finally:
            store.close()

    asyncio.run(run())


@pytest.mark.slow
def test_a_real_server_answers_every_change_with_the_new_report(http: httpx.Client) -> None:
    """Over HTTP: the reply to each kind of change, then GET report and GET session, byte for byte the
    reference built from what the reply says (its inputs and times) and the notes the test caused."""
    sid = new_session(http)
    notes: list[str] = []
    previous = [b""]

    def check(r: httpx.Response, what: str) -> None:
        assert r.status_code in (200, 201), (what, r.text)
        body = json.loads(r.content)
        rec = SessionRecord(
            body["id"],
            SessionPublic.model_validate_json(r.content).created_at,
            SessionPublic.model_validate_json(r.content).updated_at,
            body["setup"],
            body["history"],
            _inputs.validate_python(body["inputs"]),
            list(notes),
        )
        assert r.content == main_public(rec), what
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == str(len(r.content))
        report = http.get(f"/sessions/{sid}/report")
        expected = main_report(rec).model_dump_json().encode()
        assert report.content == expected, what
        assert report.headers["content-type"] == "application/json"
        assert report.headers["content-length"] == str(len(expected))
        assert expected != previous[-1], what  # every step below changes the report: never the old one
        previous.append(expected)
        assert http.get(f"/sessions/{sid}").content == r.content, what

    check(http.get(f"/sessions/{sid}"), "created")
    check(
        http.post(f"/sessions/{sid}/answers", json={"question": "train_loss_large", "value": "yes"}), "answer"
    )
    check(http.post(f"/sessions/{sid}/answers", json={"question": "deeper_model_worse", "value": "yes"}), "2")
    check(
        http.put(f"/sessions/{sid}/answers/deeper_model_worse", json={"value": "no", "note": "n"}), "change"
    )
    check(http.delete(f"/sessions/{sid}/answers/deeper_model_worse"), "withdraw")
    check(http.post(f"/sessions/{sid}/undo"), "undo")
    measured = outcome({"deeper_model_worse": "yes"}, warnings=["small data"])
    notes += [
        "curvature measured deeper_model_worse = yes; your answer 'no' was kept",
        "curvature: small data",
    ]
    check(
        http.post(f"/sessions/{sid}/outcomes", json={"outcome": measured.model_dump(mode="json")}),
        "measured answer the user overrides",
    )
    check(http.post(f"/sessions/{sid}/undo"), "undo the measurement")
    r = http.post(f"/sessions/{sid}/points", json={"points": [], "alerts": ["loss rose"]})
    assert r.status_code == 200, r.text
    notes.append("loss rose")
    check(http.get(f"/sessions/{sid}"), "an alert became a note")
    check(http.put(f"/sessions/{sid}/answers/deeper_model_worse", json={"value": "yes"}), "change back")
    check(
        http.post(f"/sessions/{sid}/answers", json={"question": "gradient_norm_small", "value": "yes"}), "3"
    )
