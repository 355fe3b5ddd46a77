"""The floor under `traindoc serve`'s CPU per request: the least a Python server on this machine spends
on the load test's traffic, with none of traindoc's work (issue 19).

Why: issue 19 asked to halve the server's CPU per request (~0.55 ms then, so ~0.28 ms). Whether that
is reachable depends on what no Python server can avoid here: the event loop, the socket system calls
(on loopback the kernel also delivers the bytes to the client inside the sender's `send`) and, for an
answer that must survive a crash, SQLite's commit with `synchronous=FULL`. This server measures that
floor under the very same load (`benchmarks/load_test.py --floor bare|store`), so the figures of the
real server can be read against it.

What it is: uvloop + httptools (what `traindoc serve` runs on), one `asyncio.Protocol` per
connection, keep-alive HTTP/1.1, no ASGI, no routing beyond splitting the path, no validation, no
session logic. Its answers have the sizes of the real server's (measured on the load test's dialogues
on 2 December 2026: a create 1,004 bytes, an answer 1,035-5,669 bytes, ~3 KB typical, a report
1,635-4,877 bytes, ~3.5 KB typical), and it keeps each session's answers so the load test's check for
lost answers reads them back.

- `--store none` ("bare"): answers kept in memory only;
- `--store sqlite`: every create and answer is written through traindoc's own `Store` (its writer
  thread, group commit, WAL, `--sync full|normal`), with the statements the service runs (a session
  row; an input row and the session's summary updated per answer), and answered after its commit, as
  the service does. Reads (the check at the end) come from the database.

Run by the load test (`--floor bare|store`); by hand:
    python benchmarks/server_floor.py --port 0 --db /tmp/floor.db --store sqlite --sync full
It prints `serving on http://127.0.0.1:PORT` once it listens, and stops on SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's traindoc, when run by hand

from assistant.api.server import bind, tune_gc, tune_switching, url_of  # noqa: E402
from assistant.store import Store  # noqa: E402

CREATE_BYTES, ANSWER_BYTES, REPORT_BYTES = 1004, 3000, 3500


def _padded(prefix: bytes, size: int) -> bytes:
    """A JSON object of exactly `size` bytes that starts with `prefix`'s members."""
    head = prefix + b', "pad": "'
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


def _response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


ANSWER_REPLY = _response(b"200 OK", _padded(b'{"ok": true', ANSWER_BYTES))
REPORT_REPLY = _response(b"200 OK", _padded(b'{"complete": true', REPORT_BYTES))
HEALTH_REPLY = _response(b"200 OK", b'{"status": "ok"}')
NOT_FOUND = _response(b"404 Not Found", b'{"error": {"message": "not found", "field": null}}')


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Floor:
    """What the server knows: each session's answers, in memory or in the database."""

    def __init__(self, store: Store | None) -> None:
        self.store = store
        self.answers: dict[str, dict[str, str]] = {}
        self.reader: sqlite3.Connection | None = None
        if store is not None:
            self.reader = sqlite3.connect(store.path, check_same_thread=False)

    def create(self, done: Callable[[str], None]) -> None:
        sid = secrets.token_urlsafe(18)
        self.answers[sid] = {}
        if self.store is None:
            done(sid)
            return
        stamp = _now()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (id, created_at, updated_at, setup, history) VALUES (?, ?, ?, ?, ?)",
                (sid, stamp, stamp, None, None),
            )

        self.store.submit_async([op]).add_done_callback(lambda _: done(sid))

    def answer(self, sid: str, body: bytes, done: Callable[[bool], None]) -> None:
        known = self.answers.get(sid)
        if known is None:
            done(False)
            return
        value = json.loads(body)
        known[value["question"]] = value["value"]
        if self.store is None:
            done(True)
            return
        seq, stamp = len(known), _now()
        row = (sid, seq, body.decode())
        summary = (stamp, "[]", 0, sid)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO inputs (session_id, seq, body) VALUES (?, ?, ?)", row)
            conn.execute(
                "UPDATE sessions SET updated_at = ?, findings = ?, complete = ? WHERE id = ?", summary
            )

        self.store.submit_async([op]).add_done_callback(lambda _: done(True))

    def session(self, sid: str) -> bytes | None:
        """GET /sessions/{id}: the answers as the real service's report holds them (read back)."""
        if self.reader is None:
            answers = self.answers.get(sid)
        else:
            rows = self.reader.execute("SELECT body FROM inputs WHERE session_id = ?", (sid,)).fetchall()
            answers = {v["question"]: v["value"] for v in (json.loads(r[0]) for r in rows)}
            if not answers and sid not in self.answers:
                answers = None
        if answers is None:
            return None
        return json.dumps({"report": {"answers": {q: {"value": v} for q, v in answers.items()}}}).encode()


class Connection(asyncio.Protocol):
    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url = url
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        parts = self.url.split(b"/")
        transport = self.transport
        assert transport is not None
        if method == b"POST" and self.url == b"/sessions":
            self.floor.create(
                lambda sid: transport.write(
                    _response(b"201 Created", _padded(b'{"id": "%s"' % sid.encode(), CREATE_BYTES))
                )
            )
        elif method == b"POST" and len(parts) == 4 and parts[3] == b"answers":
            self.floor.answer(
                parts[2].decode(),
                b"".join(self.body),
                lambda ok: transport.write(ANSWER_REPLY if ok else NOT_FOUND),
            )
        elif method == b"GET" and len(parts) == 4 and parts[3] == b"report":
            transport.write(REPORT_REPLY)
        elif method == b"GET" and len(parts) == 3 and parts[1] == b"sessions":
            found = self.floor.session(parts[2].decode())
            transport.write(NOT_FOUND if found is None else _response(b"200 OK", found))
        elif method == b"GET" and self.url == b"/health":
            transport.write(HEALTH_REPLY)
        else:
            transport.write(NOT_FOUND)


async def serve(args: argparse.Namespace) -> None:
    store = None
    if args.store == "sqlite":
        store = await asyncio.to_thread(Store(args.db, synchronous=args.sync).open)
    floor = Floor(store)
    sock = bind("127.0.0.1", args.port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(floor), sock=sock)
    print(f"serving on {url_of(sock)}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    if store is not None:
        await asyncio.to_thread(store.close)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--db", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "traindoc-floor.db"))
    p.add_argument("--store", choices=("none", "sqlite"), default="none")
    p.add_argument("--sync", choices=("full", "normal"), default="full")
    args = p.parse_args()
    import uvloop

    tune_gc()  # as `traindoc serve` does: the comparison is about the work, not the collector
    tune_switching()
    gc.collect()
    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
