"""The answer path parses a body in one pydantic-core call (`validate_json`) and trusts only its success
(issue 19): every body must come out exactly as the way FastAPI reads it (json.loads, then validation
in python mode), the same model or the same error response, byte for byte.

Ground truth: `_validated(adapter, _json_body(raw))`, the path FastAPI's own routes were pinned against
by tests/service/test_hot_path.py (48 requests through both, identical status and body) and kept
unchanged for every body `validate_json` refuses. Checked on every malformed body we know of (encodings,
byte order marks, surrogates, control characters, duplicate keys, NaN, trailing bytes) and on bodies
made by random byte edits of valid ones, many seeds.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from pydantic import TypeAdapter

from assistant.api.hot_path import _answer_body, _BadBody, _create_body, _json_body, _parsed, _validated

VALID = [
    b'{"question":"train_loss_large","value":"yes"}',
    b'{"question": "gradient_norm_small", "value": "no", "note": "from the log"}',
    b'{"question":"a","value":"unsure","note":null}',
    b"{}",
    b"null",
    b'{"setup":"mlp","history":null}',
]

KNOWN = [
    b"",
    b" ",
    b"{",
    b"[]",
    b'"x"',
    b"1",
    b"true",
    b'{"question":"a\tb","value":"yes"}',  # a raw control character: json.loads refuses it
    b'{"question":"\\ud800","value":"yes"}',  # a lone surrogate escape
    b'{"question":"\\ud83d\\ude00","value":"yes"}',  # a surrogate pair
    b'{"question":"\\u0000","value":"yes"}',
    b'\xef\xbb\xbf{"question":"a","value":"yes"}',  # a UTF-8 byte order mark: json.loads takes it
    '{"question":"é","value":"yes"}'.encode("utf-16"),  # json.loads detects UTF-16 too
    '{"question":"é","value":"yes"}'.encode("utf-32-le"),
    b'{"question":"\xff","value":"yes"}',  # not UTF-8
    b'{"question":"\xc0\xaf","value":"yes"}',  # an overlong encoding
    b'{"question":"\xed\xa0\x80","value":"yes"}',  # an encoded surrogate
    b'{"question":"a","question":"b","value":"yes"}',  # a duplicate key: the last one wins in both
    b'{"question":"a","value":"yes","note":NaN}',
    b'{"question":"a","value":"yes","note":Infinity}',
    b'{"question":"a","value":"yes"} ',
    b'{"question":"a","value":"yes"}\n',
    b'{"question":"a","value":"yes"}\x00',
    b'{"question":"a","value":"yes"}{}',
    b'{"question":"a", "value":"yes",}',
    b'{"question":"a","value":1}',
    b'{"question":"a","value":"yes","extra":1}',
    b'{"question":"' + b"q" * 65 + b'","value":"yes"}',  # over max_length
    b'{"question":"' + "é".encode() * 64 + b'","value":"yes"}',  # 64 characters, 128 bytes
    b'{"question":"a","value":"yes","note":"' + b"n" * 2001 + b'"}',
    b'{"question":"a","value":"yes","note":12345678901234567890123}',
    b'{"question":["a"],"value":"yes"}',
    b'{"setup":1}',
    b'{"setup":"' + b"s" * 65 + b'"}',
    b'{"history":"h","setup":null,"setup":"s"}',
]


def _outcome(adapter: TypeAdapter[Any], parse: Any, raw: bytes) -> tuple[str, Any]:
    try:
        value = parse(adapter, raw)
    except _BadBody as exc:
        response = exc.response
        return "error", (response.status_code, bytes(response.body))
    if value is None:
        return "none", None
    return type(value).__name__, value.model_dump(mode="python")


def _reference(adapter: TypeAdapter[Any], raw: bytes) -> Any:
    return _validated(adapter, _json_body(raw))


def _check(raw: bytes) -> None:
    for adapter in (_answer_body, _create_body):
        assert _outcome(adapter, _parsed, raw) == _outcome(adapter, _reference, raw), raw


@pytest.mark.parametrize("raw", VALID + KNOWN)
def test_known_bodies_come_out_as_fastapi_reads_them(raw: bytes) -> None:
    _check(raw)


def test_valid_bodies_are_taken_by_the_one_call() -> None:
    # the fast path is really used (else this whole change measured nothing): its result is a model
    # validate_json made, for bodies json.loads reads as valid objects
    for raw in VALID[:3]:
        assert _answer_body.validate_json(raw) == _parsed(_answer_body, raw)
        assert json.loads(raw)["question"] == _parsed(_answer_body, raw).question


_BYTES = [
    b'"',
    b"\\",
    b"{",
    b"}",
    b",",
    b":",
    b" ",
    b"\x00",
    b"\t",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"u",
    b"n",
    b"1",
    b"e",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_edits_of_valid_bodies_come_out_the_same(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        raw = bytearray(rng.choice(VALID))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw) + 1)
            kind = rng.random()
            if kind < 0.4:
                raw[at:at] = rng.choice(_BYTES)
            elif kind < 0.7 and at < len(raw):
                del raw[at]
            elif at < len(raw):
                raw[at : at + 1] = rng.choice(_BYTES)
        _check(bytes(raw))
