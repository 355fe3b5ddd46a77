"""The door: the Host allow-list, cross-site refusals, JSON-only writes, a bearer token (when configured)
and a request size limit, as one plain ASGI middleware.

Why the Host and Origin checks: a loopback service without a token is reachable from any web page the
user visits, by DNS rebinding (the page's own name resolves to 127.0.0.1: `Host: evil.example`) or by
a cross-site form or `fetch` (`text/plain` bodies need no CORS preflight). So only our own names are
answered, a browser's cross-site request (`Origin` not ours, `Sec-Fetch-Site: cross-site`) is refused,
and a write's body must be declared JSON, which a page can only send after a preflight we never allow.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it runs on every request, and the wrapper's task
per request would cost more than everything else the answer path does. Both refusals use the API's
error shape, `{"error": {"message", "field", "code"}}`.
"""

from __future__ import annotations

import hmac
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.settings import normal_host
from traindoc.errors import code_for_status

OPEN_PATHS = frozenset({"/health"})  # readiness checks need no secret and reveal none
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        hosts: frozenset[str] | None = None,
    ) -> None:
        self.app = app
        self.expected = token.encode() if token else None
        # the header as clients normally send it, checked first (in constant time, as the token
        # always is); any other spelling takes the full parse in `_refusal`
        self._canonical = b"Bearer " + self.expected if self.expected else b""
        self.max_body_bytes = max_body_bytes
        self.hosts = hosts  # None: any Host (see settings.host_names)
        # Host header values already found to be ours, as sent: decoding and normalising the same
        # few values on every request cost more than the rest of the door (issue 19). Only "ours"
        # is kept, and at most 64 distinct values, so no client can grow it.
        self._our_hosts: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body_bytes
            except ValueError:
                await _refuse(send, 400, "invalid Content-Length header", "content-length")
                return
            if too_big:
                await _refuse(send, 413, self._too_large(), None)
                return
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str | None] | None:
        """(status, message, field) when the request must not reach the app."""
        guarded = scope["path"] not in OPEN_PATHS
        if self.hosts is not None and guarded:  # readiness checks use any name
            raw_host = headers.get(b"host", b"")
            if raw_host not in self._our_hosts:
                if normal_host(raw_host.decode("latin-1")) not in self.hosts:
                    return 421, "this server does not answer for that Host name (see --allow-host)", "host"
                if len(self._our_hosts) < 64:
                    self._our_hosts.add(raw_host)
            origin = headers.get(b"origin")
            if origin is not None and _origin_host(origin) not in self.hosts:
                return 403, "cross-site requests are refused", "origin"
        if headers.get(b"sec-fetch-site") == b"cross-site":
            return 403, "cross-site requests are refused", "origin"
        if self.expected is not None and guarded:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self._canonical):
                scheme, _, credentials = given.strip().partition(b" ")
                # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
                if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.expected):
                    why = "missing bearer token" if not given else "wrong bearer token"
                    return 401, f"{why}: send 'Authorization: Bearer TOKEN'", "authorization"
        # plain `application/json` (what clients send) needs no parsing of the media type
        if (
            scope["method"] in WRITES
            and headers.get(b"content-type") != b"application/json"
            and not _json_or_empty(headers)
        ):
            return (
                415,
                "request bodies must be JSON: send 'Content-Type: application/json'",
                "content-type",
            )
        return None

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"

    def _counting(self, receive: Receive) -> Receive:
        """For bodies without Content-Length (chunked): count as they arrive, stop at the limit."""
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # raised inside the route: the app's handler turns it into the error shape
                    raise HTTPException(413, self._too_large())
            return message

        return wrapped


def _origin_host(origin: bytes) -> str:
    """`http://localhost:8321` -> `localhost`; `null` (a sandboxed or file page) matches nothing."""
    text = origin.decode("latin-1").strip()
    return normal_host(text.partition("://")[2].partition("/")[0]) if "://" in text else text


def _json_or_empty(headers: dict[bytes, bytes]) -> bool:
    """A write's body is declared JSON (`application/json`, `application/*+json`), or it has none."""
    kind = headers.get(b"content-type")
    if kind is None:
        return headers.get(b"content-length", b"0").strip() == b"0" and b"transfer-encoding" not in headers
    media = kind.partition(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def _refuse(send: Send, status: int, message: str, field: str | None) -> None:
    body = json.dumps(
        {"error": {"message": message, "field": field, "code": code_for_status(status)}}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
