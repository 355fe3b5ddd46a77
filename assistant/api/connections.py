"""Connection-level limits that uvicorn lacks: a deadline for the request head and body, a bound on
connections per client and in all.

Why: uvicorn arms no timer before a connection's first request (its keep-alive timer starts only after
a response), and every byte received cancels its keep-alive timer, so a client that connects and sends
nothing, or trickles its headers one byte at a time, holds a connection forever. Its only bound,
`limit_concurrency`, then answers 503 to EVERY request once that many connections are held: 1,100 idle
connections locked everyone out for over a minute (issue 14). Here, instead:

- the head (request line and headers) must be complete `head_timeout_s` after the connection opens, or
  after the first byte of a keep-alive connection's next request; the body `body_timeout_s` after the
  head. Otherwise the connection is closed. Trickling does not reset either deadline.
- each client address may hold `max_connections_per_client` connections, and the server
  `max_connections` in all; a connection beyond either bound gets a 503 (JSON, `Retry-After`) and is
  closed at once, so the connections already held keep being served.

And one thing for speed: uvicorn writes a response's head and its body with two `transport.write`
calls, so every answer left as two TCP segments (the socket has TCP_NODELAY), two system calls, and
woke the client twice. `_OneWrite` holds a head that announces a Content-Length until the body's
write and sends both in one (measured in docs/service.md, "What serialized the server").

Only the parser-independent parts of uvicorn's protocols are used (`cycle` and `cycle.more_body`, set
by both the httptools and the h11 implementation), observed after each `data_received`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, cast

State = Literal["head", "body", "app", "idle"]


@dataclass(frozen=True)
class ConnectionLimits:
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 4096
    max_connections_per_client: int = 256


def _refusal(message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "field": None}}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 5\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _OneWrite:
    """The connection's transport, except that a response head with a Content-Length is held back and
    written together with the body that follows it: one system call and one segment per answer.

    The held head is written at the latest when the response completes (`flush`, called from
    `on_response_complete`: a HEAD request or an empty body writes nothing more), or before anything
    else is written, or the transport is closed. Heads without a Content-Length (event streams,
    chunked bodies) are never held: their client must see them before the first event."""

    __slots__ = ("_transport", "_head")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n" and b"\r\ncontent-length:" in data:
            # uvicorn writes header names lower-cased; a 100 Continue has no Content-Length
            self._head = bytes(data)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def writelines(self, data: Any) -> None:
        self.flush()
        self._transport.writelines(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()


class _Deadlines:
    """Mixed in before a uvicorn HTTP protocol class (see `protocol_class`).

    `super()` here is that uvicorn class, chosen at run time; mypy sees `object`, hence the
    `type: ignore[misc]` on each call through it."""

    limits: ConnectionLimits
    open_per_client: Counter[str]
    open_total: list[int]  # one cell: shared by every connection of this server

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(cast(asyncio.Transport, _OneWrite(transport)))  # type: ignore[misc]
        self._timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None
        self._state: State = "head"
        self._seen_cycle: Any = None
        host = self.client[0] if self.client else ""
        if self.open_total[0] >= self.limits.max_connections:
            self._refuse("the server holds too many connections; try again shortly")
            return
        if self.open_per_client[host] >= self.limits.max_connections_per_client:
            self._refuse(
                f"too many connections from your address (limit {self.limits.max_connections_per_client})"
            )
            return
        self.open_per_client[host] += 1
        self.open_total[0] += 1
        self._counted = host
        self._arm(self.limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted is not None:
            self.open_total[0] -= 1
            self.open_per_client[self._counted] -= 1
            if self.open_per_client[self._counted] <= 0:
                del self.open_per_client[self._counted]
            self._counted = None
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._state == "idle":  # a keep-alive connection's next request begins: its head is timed
            self._state = "head"
            self._arm(self.limits.head_timeout_s)
        super().data_received(data)  # type: ignore[misc]
        self._observe()

    def on_response_complete(self) -> None:
        cast(_OneWrite, self.transport).flush()  # a head still held (HEAD request, empty body) goes now
        super().on_response_complete()  # type: ignore[misc]
        # uvicorn's keep-alive timer now bounds the idle time until the next request's first byte
        self._state = "idle"
        self._disarm()

    # -- internals ----------------------------------------------------------------------------------

    def _observe(self) -> None:
        cycle = self.cycle
        if self._state == "head" and cycle is not None and cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._state = "body"
            self._arm(self.limits.body_timeout_s)
        if self._state == "body" and cycle is not None and (not cycle.more_body or cycle.response_complete):
            self._state = "app"  # the app's own time (event streams last for hours) is not bounded here
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        timer = getattr(self, "_timer", None)  # absent before connection_made
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._state in ("head", "body") and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, message: str) -> None:
        self._state = "app"
        self.transport.write(_refusal(message))
        self.transport.close()


def protocol_class(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """`base` (uvicorn's httptools or h11 protocol) with the limits; counters are this server's own."""
    return type(
        f"Limited{base.__name__}",
        (_Deadlines, base),
        {"limits": limits, "open_per_client": Counter(), "open_total": [0]},
    )


def default_base() -> type[asyncio.Protocol]:
    """httptools when installed (a declared dependency, and ~20 % less CPU per request), else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
