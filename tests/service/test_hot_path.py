"""The answer path served ahead of FastAPI (assistant/api/hot_path.py) answers exactly as FastAPI did.

Ground truth: the same app with the hot path taken out of its middleware, i.e. FastAPI's own routes,
validation and error handlers, which the contract (tests/service/test_api.py, the OpenAPI document)
was written against. Every request of a fixed list (valid ones and every kind of malformed body,
header and path we could think of) is sent to both apps, each with its own real SQLite store, and the
status, content type and body must be identical (session ids and timestamps aside, which are random).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from assistant.api.app import create_app
from assistant.api.hot_path import HotPath
from assistant.api.settings import Settings

TOKEN = "hot-path-token-0123456789"
JSON = {"content-type": "application/json"}

# (method, path with {sid} for a live session, body bytes or None, extra headers)
CASES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/sessions", None, {}),
    ("POST", "/sessions", b"{}", JSON),
    ("POST", "/sessions", b"null", JSON),
    ("POST", "/sessions", b"[]", JSON),
    ("POST", "/sessions", b"5", JSON),
    ("POST", "/sessions", b"{", JSON),
    ("POST", "/sessions", b"\xff\xfe\xfa", JSON),
    ("POST", "/sessions", b'{"setup": "nope"}', JSON),
    ("POST", "/sessions", b'{"history": "nope"}', JSON),
    ("POST", "/sessions", b'{"setup": "' + b"x" * 65 + b'"}', JSON),
    ("POST", "/sessions", b'{"setup": 3}', JSON),
    ("POST", "/sessions", b'{"typo": 1}', JSON),
    ("POST", "/sessions", b"{}", {"content-type": "application/vnd.x+json"}),
    ("POST", "/sessions", b"{}", {"content-type": "text/plain"}),
    ("POST", "/sessions", "{}".encode("utf-16"), JSON),
    ("POST", "/sessions/", b"{}", JSON),
    ("PUT", "/sessions", b"{}", JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "train_loss_large", "value": "no"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "train_loss_large", "value": "maybe"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "no_such_question", "value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "train_loss_large"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": 1, "value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "' + b"q" * 65 + b'", "value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers", b'{"question": "a", "value": "yes", "x": 1}', JSON),
    (
        "POST",
        "/sessions/{sid}/answers",
        b'{"question": "a", "value": "yes", "note": "' + b"n" * 2001 + b'"}',
        JSON,
    ),
    ("POST", "/sessions/{sid}/answers", None, {}),
    ("POST", "/sessions/{sid}/answers", b"null", JSON),
    ("POST", "/sessions/{sid}/answers", b"[1]", JSON),
    ("POST", "/sessions/{sid}/answers", b'"text"', JSON),
    ("POST", "/sessions/{sid}/answers", b"{'single': 'quotes'}", JSON),
    ("POST", "/sessions/{sid}/answers", b"NaN", JSON),
    ("POST", "/sessions/{sid}/answers", b"\x80abc", JSON),
    ("POST", "/sessions/no-such-session/answers", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("POST", "/sessions/" + "s" * 65 + "/answers", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("POST", "/sessions/a%20b/answers", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("POST", "/sessions//answers", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("POST", "/sessions/{sid}/answers/", b'{"question": "train_loss_large", "value": "yes"}', JSON),
    ("GET", "/sessions/{sid}/answers", None, {}),
    ("GET", "/sessions/{sid}/report", None, {}),
    ("GET", "/sessions/no-such-session/report", None, {}),
    ("GET", "/sessions/" + "s" * 65 + "/report", None, {}),
    ("POST", "/sessions/{sid}/report", b"{}", JSON),
    ("HEAD", "/sessions/{sid}/report", None, {}),
    ("GET", "/sessions/{sid}/report/", None, {}),
    ("GET", "/sessions/{sid}/report", None, {"authorization": "Bearer wrong"}),
    ("GET", "/sessions/{sid}/report", None, {"host": "evil.example"}),
]


def _normal(value: Any, sid: str) -> Any:
    """Random parts out: the session id becomes SID, timestamps are dropped."""
    if isinstance(value, dict):
        return {k: _normal(v, sid) for k, v in value.items() if k != "at" and not k.endswith("_at")}
    if isinstance(value, list):
        return [_normal(v, sid) for v in value]
    if isinstance(value, str):
        return value.replace(sid, "SID")
    return value


async def _responses(with_hot_path: bool, db: Path) -> list[tuple[int, str | None, Any]]:
    app = create_app(Settings(db_path=db, token=TOKEN))
    if not with_hot_path:  # FastAPI's own routes: the reference
        app.user_middleware = [m for m in app.user_middleware if m.cls is not HotPath]
    out = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {TOKEN}", "host": "127.0.0.1"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as client:
            # each case gets a fresh session, so an earlier answer does not change a later one's meaning
            for method, path, body, extra in CASES:
                created = await client.post("/sessions", json={})
                sid = created.json()["id"]
                r = await client.request(method, path.format(sid=sid), content=body, headers=extra)
                kind = r.headers.get("content-type")
                parsed = r.json() if r.content and kind == "application/json" else r.content
                if r.status_code == 201:  # a session created by this case: its own random id
                    parsed = _normal(parsed, parsed["id"])
                out.append((r.status_code, kind, _normal(parsed, sid)))
    return out


def _run(factory: Callable[[], Any]) -> Any:
    return asyncio.run(factory())


def test_the_answer_path_answers_every_case_as_fastapi_did(tmp_path: Path) -> None:
    reference = _run(lambda: _responses(False, tmp_path / "ref.db"))
    fast = _run(lambda: _responses(True, tmp_path / "fast.db"))
    statuses = {status for status, _, _ in reference}
    # the list reaches every outcome the routes have, so equality is not vacuous
    assert {200, 201, 400, 401, 404, 405, 421, 422} <= statuses, statuses
    for case, want, got in zip(CASES, reference, fast, strict=True):
        assert got == want, case
