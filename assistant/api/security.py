"""The door: a bearer token (when configured) and a request size limit, as one plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it runs on every request, and the wrapper's task
per request would cost more than everything else the answer path does. Both refusals use the API's
error shape, `{"error": {"message", "field"}}`.
"""

from __future__ import annotations

import hmac
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})  # readiness checks need no secret and reveal none


class Guard:
    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.expected is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                why = "missing bearer token" if not given else "wrong bearer token"
                await _refuse(send, 401, f"{why}: send 'Authorization: Bearer TOKEN'", "authorization")
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


async def _refuse(send: Send, status: int, message: str, field: str | None) -> None:
    body = json.dumps({"error": {"message": message, "field": field}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
