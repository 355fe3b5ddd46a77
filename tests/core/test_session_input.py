"""Bad input in the session: clear messages, and nothing the user entered is lost."""

from __future__ import annotations

import pytest

from assistant.answers_file import parse_answers
from assistant.dialogue import Dialogue
from assistant.errors import InputError
from assistant.session import Session


def test_unknown_question_and_bad_value() -> None:
    s = Session()
    with pytest.raises(InputError, match="unknown question id 'train_los'") as e:
        s.answer("train_los", "yes")
    assert e.value.field == "train_los"
    with pytest.raises(InputError, match="one of yes, no, unsure"):
        s.answer("train_loss_large", "maybe")
    assert s.inputs == []


def test_off_path_answer_is_refused_and_session_unchanged() -> None:
    s = Session()
    s.answer("train_loss_large", "yes")
    before = list(s.inputs)
    with pytest.raises(InputError, match="val_loss_large is not asked on the current path"):
        s.answer("val_loss_large", "yes")
    assert s.inputs == before
    assert [q.id for q in s.report().pending] == ["deeper_model_worse"]


def test_contradictory_reanswer_needs_a_change() -> None:
    s = Session()
    s.answer("train_loss_large", "yes")
    with pytest.raises(InputError, match="already answered 'yes'"):
        s.answer("train_loss_large", "no")
    s.answer("train_loss_large", "yes")  # same value again is harmless
    s.answer("train_loss_large", "no", replace=True)
    assert s.report().answers["train_loss_large"].value == "no"


def test_unsure_can_be_settled_later_without_a_change() -> None:
    s = Session()
    s.answer("train_loss_large", "unsure")
    s.answer("train_loss_large", "yes")
    assert s.report().answers["train_loss_large"].value == "yes"


def test_answers_file_checks_whole_set_and_keeps_session_on_error() -> None:
    s = Session()
    s.answer("train_loss_large", "no")
    with pytest.raises(InputError, match="deeper_model_worse is not asked"):
        s.load_answers({"test_loss_large": "yes", "deeper_model_worse": "yes"})
    assert list(s.current_answers()) == ["train_loss_large"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"train_loss_large": "yes"', "not valid JSON"),
        ('["yes"]', "must be a JSON object"),
        ('{"train_loss_large": true}', "must be one of yes, no, unsure"),
        ('{"trainloss": "yes"}', "unknown question id 'trainloss'"),
        (
            '{"train_loss_large": "yes", "train_loss_large": "no"}',
            "contradictory answers for train_loss_large",
        ),
    ],
)
def test_answers_text_errors(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_answers(text)


def test_dialogue_errors_are_events_and_change_nothing() -> None:
    d = Dialogue(Session())
    d.start()
    d.handle_raw('{"type": "answer", "question": "train_loss_large", "value": "no"}')
    for bad in (
        "not json",
        "[]",
        '{"type": "shout"}',
        '{"type": "answer", "question": "train_loss_large"}',
        '{"type": "answer", "question": "val_loss_large", "value": "yes"}',
        '{"type": "change", "question": "test_loss_large", "value": "yes"}',
    ):
        (event,) = d.handle_raw(bad)
        assert event.event == "error" and event.message
    assert list(d.session.current_answers()) == ["train_loss_large"]


def test_dialogue_emits_withdrawn_findings_on_change() -> None:
    d = Dialogue(Session())
    d.start()
    for q, v in (("train_loss_large", "no"), ("test_loss_large", "yes"), ("val_loss_large", "yes")):
        d.handle_raw({"type": "answer", "question": q, "value": v})
    events = d.handle_raw({"type": "change", "question": "train_loss_large", "value": "yes"})
    kinds = [(e.event, getattr(e, "id", None)) for e in events]
    assert ("finding_withdrawn", "overfitting") in kinds
    asked = [e.question.id for e in events if e.event == "question"]
    assert asked == ["deeper_model_worse"]


def test_answers_nesting_is_refused_the_same_way_on_every_python() -> None:
    """3.11's parser gives up at ~1,000 levels, 3.13's parses 5,000: the depth is checked by hand
    (MAX_DEPTH = 32). Brackets inside strings do not count; exactly MAX_DEPTH levels reach the
    parser and get the shape message instead."""
    from assistant.answers_file import MAX_DEPTH, parse_answers
    from assistant.errors import InputError

    with pytest.raises(InputError, match="nested too deeply"):
        parse_answers("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(InputError, match="must be a JSON object"):
        parse_answers("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(InputError, match="must be one of"):
        parse_answers('{"train_loss_large": "' + "[" * 100 + '"}')  # not nesting: a string
