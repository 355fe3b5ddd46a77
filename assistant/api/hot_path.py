"""The answer path (create a session, answer, read the report) served as plain ASGI, ahead of FastAPI.

Why: these three requests are nearly all of a dialogue's traffic, and on them FastAPI's per-request
machinery (route matching by regular expression, the request object, body parsing, dependency
solving, the exception and exit-stack middlewares) cost more CPU than the session work itself
(profile in docs/service.md, "CPU per request"). Here a request is matched by splitting its path,
its body validated by the same pydantic models FastAPI would use, and the answer serialised once.

The contract is FastAPI's, unchanged: the same paths, status codes, bodies and error bodies. The
FastAPI routes stay registered, so the OpenAPI document is exactly what it was, and they serve
anything this module does not take (other methods, a trailing slash, a mounted app: `root_path`).
Body parsing follows `fastapi.routing` step by step (json.loads, then validation in python mode,
errors located under `body`), so a malformed body gets the same 400/422 as before.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api import errors
from assistant.api.service import SessionService
from assistant.errors import TraindocError
from assistant.service_models import AnswerCreate, SessionCreate

_create_body: TypeAdapter[SessionCreate | None] = TypeAdapter(SessionCreate | None)
_answer_body: TypeAdapter[AnswerCreate] = TypeAdapter(AnswerCreate)
_JSON = (b"content-type", b"application/json")
_EMPTY: Any = object()  # no body at all (FastAPI's `Undefined`), which is not JSON null
M = TypeVar("M")


class _BadBody(Exception):
    """The body could not be parsed or validated: carries the response FastAPI would have sent."""

    def __init__(self, response: Any) -> None:
        self.response = response


# one of the three handlers below: (service, session id, receive) -> (status, JSON body)
_Route = Callable[[SessionService, str, Receive], Awaitable[tuple[int, bytes]]]


ROUTE = "traindoc.route"  # scope key: the route `TraindocApp` found, so it is not found twice


def route_of(scope: Scope) -> tuple[str, str] | None:
    """(which of the three requests, the session id) when `HotPath` serves this request, else None."""
    if scope["type"] != "http" or scope.get("root_path"):
        return None
    method, path = scope["method"], scope["path"]
    if method == "POST":
        if path == "/sessions":
            return "create", ""
        tail = "answers"
    elif method == "GET":
        tail = "report"
    else:
        return None
    # "/sessions/ID/answers" -> ["", "sessions", "ID", "answers"]; ID is one non-empty segment, as
    # FastAPI's `{session_id}` matches it
    parts = path.split("/")
    if len(parts) != 4 or parts[1] != "sessions" or not parts[2] or parts[3] != tail:
        return None
    return tail, parts[2]


class HotPath:
    """ASGI middleware: serves POST /sessions, POST /sessions/{id}/answers, GET /sessions/{id}/report."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, _Route] = {
            "create": self._create,
            "answers": self._answer,
            "report": self._report,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = scope.pop(ROUTE, None) or route_of(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        sessions: SessionService = scope["app"].state.sessions
        try:
            status, payload = await self._routes[found[0]](sessions, found[1], receive)
        except _BadBody as exc:
            await exc.response(scope, receive, send)
            return
        # the handlers take no Request here (they never read it): hence the arg-type ignores
        except HTTPException as exc:  # the Guard's 413 for a chunked body over the limit
            await (await errors._http(None, exc))(scope, receive, send)  # type: ignore[arg-type]
            return
        except TraindocError as exc:  # probe errors too: one root
            await (await errors._traindoc(None, exc))(scope, receive, send)  # type: ignore[arg-type]
            return
        except Exception as exc:  # a bug of ours: logged with a reference, never shown
            await errors._logged_internal(exc)(scope, receive, send)
            return
        headers = [(b"content-length", str(len(payload)).encode()), _JSON]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _create(self, sessions: SessionService, _: str, receive: Receive) -> tuple[int, bytes]:
        body = _parsed(_create_body, await _read(receive))
        return 201, await sessions.create(body or SessionCreate())

    async def _answer(self, sessions: SessionService, session_id: str, receive: Receive) -> tuple[int, bytes]:
        body = _parsed(_answer_body, await _read(receive))
        return 200, await sessions.answer(session_id, body.question, body.value, body.note, change=False)

    async def _report(self, sessions: SessionService, session_id: str, _: Receive) -> tuple[int, bytes]:
        return 200, sessions.report(session_id)  # the bytes serialised when the session last changed


async def _read(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        return message.get("body", b"")  # the whole body in one message: what a client's request is
    if message["type"] == "http.disconnect":
        return b""
    chunks: list[bytes] = [message.get("body", b"")]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _parsed(adapter: TypeAdapter[M], raw: bytes) -> M:
    """The body parsed and validated, as `_validated(adapter, _json_body(raw))` would return it.

    One call into pydantic-core (`validate_json`) instead of `json.loads` (whose encoding detection
    and decoder run in Python) and `validate_python` (issue 19). Only its success is trusted: a body
    it refuses goes the way FastAPI reads it, so every error is exactly what it was, and a body it
    accepts is one `json.loads` reads as the same object (tests/service/test_body_parsing.py checks
    both on every malformed body we know and on many random ones).
    """
    if raw:
        try:
            return adapter.validate_json(raw)
        except ValidationError:
            pass
    return _validated(adapter, _json_body(raw))


def _json_body(raw: bytes) -> Any:
    """The body as FastAPI reads it: _EMPTY when empty, else json.loads (the Guard has already
    refused a non-empty body not declared JSON)."""
    if not raw:
        return _EMPTY
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _BadBody(
            errors.validation_response({"type": "json_invalid", "loc": ("body", exc.pos)})
        ) from exc
    except Exception as exc:  # undecodable bytes: FastAPI's 400
        raise _BadBody(errors.error_response(400, "There was an error parsing the body", None)) from exc


def _validated(adapter: TypeAdapter[M], value: Any) -> M:
    if value is _EMPTY:
        if adapter is _answer_body:  # a required body, absent
            raise _BadBody(
                errors.validation_response({"type": "missing", "loc": ("body",), "msg": "Field required"})
            )
        return None  # type: ignore[return-value]  # the optional body's default
    try:
        return adapter.validate_python(value, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        detail = exc.errors(include_url=False)[0]
        first = dict(detail)
        first["loc"] = ("body", *detail["loc"])
        raise _BadBody(errors.validation_response(first)) from exc
