"""Sessions and probe jobs in SQLite, written before the API answers.

Durability: WAL with `synchronous=FULL` by default, so an acknowledged write survives a SIGKILL of the
server AND a power cut. FULL costs one fsync per commit (~0.75 ms here), so writes go through ONE writer
thread that commits whatever has queued up in a single transaction (group commit): under load one
fsync covers many requests, and each request still waits until its own write is on disk. `normal`
drops the fsync (WAL is then still safe against a killed process, not against power loss).

Each unit of work runs in its own SAVEPOINT, so a failing unit is rolled back alone.
Schema: `PRAGMA user_version` holds the version; `MIGRATIONS[n]` upgrades n-1 -> n.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import TypeAdapter

from assistant.kept_json import KeptJSON
from assistant.models import SessionInput
from assistant.service_models import ProbeJob, SessionSummary

# the store's errors live under the one root (traindoc/errors.py); importable from here too
from traindoc.errors import DamagedRecord as DamagedRecord
from traindoc.errors import StorageFull as StorageFull
from traindoc.errors import StorageUnavailable as StorageUnavailable
from traindoc.errors import StoreError as StoreError

Op = Callable[[sqlite3.Connection], None]
_Waiter = Future[None] | asyncio.Future[None]
Migration = Callable[[sqlite3.Connection], None]
Synchronous = Literal["full", "normal"]

_input_adapter: TypeAdapter[SessionInput] = TypeAdapter(SessionInput)
_dump_input = _input_adapter.serializer.to_json

# Each input's JSON, serialised once (when it is stored): every reply to a change carries all of its
# session's inputs, and serialising each in every reply was the largest single cost on the answer path
# (issue 19). An input is frozen and never changed once made (a change is a new input).
_INPUT_JSON = KeptJSON(4096)


def input_json(item: SessionInput) -> bytes:
    """`TypeAdapter(SessionInput).dump_json(item)`, serialised once per input."""
    return _INPUT_JSON(item, _dump_input)


def inputs_json(items: Sequence[SessionInput]) -> bytes:
    """`TypeAdapter(list[SessionInput]).dump_json(items)`: the list's JSON is its items' JSON joined
    by commas, without spaces (tests/service/test_report_bytes.py compares the two)."""
    return b"[" + b",".join(map(input_json, items)) + b"]"


log = logging.getLogger("traindoc.store")


_STORAGE_CODES = frozenset(
    getattr(sqlite3, name)
    for name in (
        "SQLITE_FULL",
        "SQLITE_IOERR",
        "SQLITE_READONLY",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_CANTOPEN",
        "SQLITE_CORRUPT",
        "SQLITE_NOTADB",
    )
)


def _is_storage_failure(exc: BaseException) -> bool:
    """The disk or the database file failed (not the change itself, e.g. a duplicate key)."""
    if isinstance(exc, OSError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and (code & 0xFF) in _STORAGE_CODES


def _write_failure(exc: BaseException) -> StorageUnavailable:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and code is not None and (code & 0xFF) == sqlite3.SQLITE_FULL:
        return StorageFull("the server's disk is full: this change was not saved; free space and retry")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StorageFull("the server's disk is full: this change was not saved; free space and retry")
    return StorageUnavailable("the session database could not save this change; try again")


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run `;`-separated DDL inside the caller's transaction (executescript would COMMIT first)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            setup TEXT,
            history TEXT,
            -- derived from the inputs, kept so that listing needs no replay
            findings TEXT NOT NULL DEFAULT '[]',
            complete INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX sessions_updated ON sessions(updated_at);
        CREATE TABLE inputs (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE notes (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            probe TEXT NOT NULL,
            setup TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            progress TEXT,
            outcome TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        );
        CREATE INDEX jobs_session ON jobs(session_id, created_at);
        CREATE INDEX jobs_status ON jobs(status);
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """A job's error code (traindoc/errors.py), next to its message; older rows have none (NULL)."""
    _script(conn, "ALTER TABLE jobs ADD COLUMN error_code TEXT")


def _curves(conn: sqlite3.Connection) -> None:
    """The curves a client watched live (SessionCurves as JSON), one row per session."""
    _script(
        conn,
        """
        CREATE TABLE session_curves (
            session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
            body TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    )


def _points(conn: sqlite3.Connection) -> None:
    # curve points streamed by a watched training run while it trains (issue 16): value NULL is a
    # NaN or infinite loss (the evidence of divergence, kept as a point)
    _script(
        conn,
        """
        CREATE TABLE curve_points (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            step REAL NOT NULL,
            value REAL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        """,
    )


# version n -> the function that upgrades a version n-1 database to n
MIGRATIONS: dict[int, Migration] = {1: _v1, 2: _v2, 3: _curves, 4: _points}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SessionRecord:
    """A stored session: its metadata, inputs and notes (everything else is derived)."""

    id: str
    created_at: datetime
    updated_at: datetime
    setup: str | None = None
    history: str | None = None
    inputs: list[SessionInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class Store:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "full",
        migrations: Mapping[int, Migration] | None = None,
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.migrations = dict(MIGRATIONS if migrations is None else migrations)
        self.version = 0
        self.interrupted_on_open: list[str] = []
        self._queue: queue.SimpleQueue[tuple[list[Op], _Waiter] | None] = queue.SimpleQueue()
        self._read_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_conn: sqlite3.Connection | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def open(self) -> Store:
        self._check_place()
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            self._check_integrity(conn)
            self.version = self._migrate(conn)
            # jobs that were running when the server died cannot be resumed: say so, do not hide them
            stamp = _iso(now())
            rows = conn.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running')").fetchall()
            self.interrupted_on_open = [r[0] for r in rows]
            with conn:
                conn.execute(
                    "UPDATE jobs SET status = 'interrupted', finished_at = ?, "
                    "error = 'the server stopped while this job was queued or running', "
                    "error_code = 'service_unavailable' "
                    "WHERE status IN ('queued', 'running')",
                    (stamp,),
                )
        except BaseException as exc:
            # a database that cannot be opened leaves no connection behind (Python 3.13 warns about
            # every unclosed one, and a server that retries must not pile them up)
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                if "not a database" in str(exc) or "malformed" in str(exc):
                    raise StoreError(self._damaged(str(exc))) from None
                raise StoreError(f"cannot open the session database {self.path}: {exc}") from None
            if isinstance(exc, OSError):
                raise StoreError(
                    f"cannot open the session database {self.path}: {exc.strerror or exc}"
                ) from None
            raise
        self._write_conn = conn
        self._reader = self._connect()
        self._writer = threading.Thread(target=self._write_loop, name="traindoc-store-writer", daemon=True)
        self._writer.start()
        return self

    def _check_place(self) -> None:
        """The database's folder exists (or is made) and is writable: one line otherwise (CLI exit 2)."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise StoreError(
                f"{folder} is not a directory: set TRAINDOC_HOME (or --db) to a directory"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot create {folder} ({exc.strerror or exc}): set TRAINDOC_HOME (or --db) to a writable directory"
            ) from None
        if not folder.is_dir():
            raise StoreError(f"{folder} is not a directory: set TRAINDOC_HOME (or --db) to a directory")
        if self.path.is_dir():
            raise StoreError(f"the session database {self.path} is a directory: pass --db FILE")
        writable = (
            os.access(self.path, os.W_OK) if self.path.exists() else os.access(folder, os.W_OK | os.X_OK)
        )
        if not writable:
            raise StoreError(
                f"cannot write the session database in {folder} (read-only): "
                "set TRAINDOC_HOME (or --db) to a writable place"
            )

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        """SQLite's quick check (every page and index structure, not index contents: about 10 ms per
        10 MB here). A database damaged mid-file used to start and then answer 500 to every request."""
        rows = conn.execute("PRAGMA quick_check(3)").fetchall()
        if [r[0] for r in rows] != ["ok"]:
            raise StoreError(self._damaged("; ".join(str(r[0]) for r in rows)))

    def _damaged(self, detail: str) -> str:
        return (
            f"cannot open the session database {self.path}: it is damaged ({detail[:120]}); move it aside "
            f"to start afresh, or recover it with: sqlite3 {self.path} .recover | sqlite3 recovered.db"
        )

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        for conn in (self._reader, self._write_conn):
            if conn is not None:
                conn.close()
        self._reader = self._write_conn = None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (group commit needs that control)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> int:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        latest = max(self.migrations, default=0)
        if current > latest:
            raise StoreError(
                f"the session database {self.path} has schema version {current}, newer than this "
                f"traindoc understands ({latest}); upgrade traindoc"
            )
        for version in range(current + 1, latest + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                self.migrations[version](conn)
                conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        return latest

    # -- writing (group commit) ---------------------------------------------------------------------

    def submit(self, ops: Sequence[Op]) -> Future[None]:
        """Queue one unit of work; the future resolves once it is committed (or failed alone)."""
        if self._writer is None:
            raise StoreError("the session database is closed")
        fut: Future[None] = Future()
        self._queue.put((list(ops), fut))
        return fut

    def submit_async(self, ops: Sequence[Op]) -> asyncio.Future[None]:
        """`submit` for the event loop: the writer settles a whole batch's futures in one loop wake-up
        (one `call_soon_threadsafe` per batch rather than one per request; measured under load)."""
        if self._writer is None:
            raise StoreError("the session database is closed")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((list(ops), fut))
        return fut

    def write(self, ops: Sequence[Op], timeout: float = 60) -> None:
        """Blocking `submit` for code outside the event loop (tests, workers)."""
        self.submit(ops).result(timeout)

    def _write_loop(self) -> None:
        conn = self._write_conn
        assert conn is not None
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < 1000:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(conn, batch)

    def _commit(self, conn: sqlite3.Connection, batch: list[tuple[list[Op], _Waiter]]) -> None:
        outcomes: list[BaseException | None] = []
        # a batch of one unit: the transaction is the unit's savepoint (two statements fewer, and two
        # interpreter-lock hand-overs, per request at low load: issue 19); rolled back the same way
        single = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for ops, _ in batch:
                if not single:
                    conn.execute("SAVEPOINT unit")
                try:
                    for op in ops:
                        op(conn)
                    if not single:
                        conn.execute("RELEASE unit")
                    outcomes.append(None)
                except Exception as exc:  # this unit alone is rolled back
                    if single:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute("ROLLBACK TO unit")
                        conn.execute("RELEASE unit")
                    if _is_storage_failure(exc):  # the disk, not the change: say so, without paths
                        log.error("could not save a change to %s: %s", self.path, exc)
                        exc = _write_failure(exc)
                    outcomes.append(exc)
            if not single or conn.in_transaction:  # not after a single unit's ROLLBACK
                conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed (disk full, I/O error): nobody is durable
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            log.error("could not save to %s: %s", self.path, exc)
            outcomes = [_write_failure(exc)] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]] = {}
        for (_, fut), error in zip(batch, outcomes, strict=True):
            if isinstance(fut, asyncio.Future):
                by_loop.setdefault(fut.get_loop(), []).append((fut, error))
            elif error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, settled)

    # -- reading ------------------------------------------------------------------------------------

    def _read(self, sql: str, args: Iterable[object] = ()) -> list[tuple]:
        if self._reader is None:
            raise StoreError("the session database is closed")
        with self._read_lock:
            return self._reader.execute(sql, tuple(args)).fetchall()

    def load_session(self, session_id: str) -> SessionRecord | None:
        rows = self._read(
            "SELECT id, created_at, updated_at, setup, history FROM sessions WHERE id = ?", (session_id,)
        )
        if not rows:
            return None
        sid, created, updated, setup, history = rows[0]
        bodies = self._read("SELECT body FROM inputs WHERE session_id = ? ORDER BY seq", (sid,))
        notes = self._read("SELECT text FROM notes WHERE session_id = ? ORDER BY seq", (sid,))
        try:
            return SessionRecord(
                id=sid,
                created_at=datetime.fromisoformat(created),
                updated_at=datetime.fromisoformat(updated),
                setup=setup,
                history=history,
                inputs=[_input_adapter.validate_json(b[0]) for b in bodies],
                notes=[str(n[0]) for n in notes],
            )
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            log.error("session %s in %s cannot be read back: %s", sid, self.path, exc)
            raise DamagedRecord(
                f"session {sid} has a damaged record and cannot be read; other sessions are unaffected",
                field="session_id",
            ) from None

    def load_curves(self, session_id: str) -> str | None:
        """The session's stored curves (SessionCurves JSON), or None when none were stored."""
        rows = self._read("SELECT body FROM session_curves WHERE session_id = ?", (session_id,))
        return str(rows[0][0]) if rows else None

    def list_sessions(self, limit: int = 100) -> list[SessionSummary]:
        rows = self._read(
            "SELECT id, created_at, updated_at, setup, history, findings, complete FROM sessions "
            "ORDER BY updated_at DESC, id LIMIT ?",
            (limit,),
        )
        out = []
        for r in rows:
            try:  # one damaged row is left out (and logged), not a failure of the whole listing
                out.append(
                    SessionSummary(
                        id=r[0],
                        created_at=datetime.fromisoformat(r[1]),
                        updated_at=datetime.fromisoformat(r[2]),
                        setup=r[3],
                        history=r[4],
                        findings=json.loads(r[5]),
                        complete=bool(r[6]),
                    )
                )
            except (ValueError, TypeError) as exc:
                log.error("session %r in %s cannot be listed: %s", r[0], self.path, exc)
        return out

    def count_points(self, session_id: str) -> int:
        return self._read("SELECT count(*) FROM curve_points WHERE session_id = ?", (session_id,))[0][0]

    def load_points(
        self, session_id: str, after: int = 0, limit: int = 10_000
    ) -> list[tuple[int, str, float, float | None]]:
        """(seq, name, step, value) with seq >= after, in the order they arrived."""
        return self._read(
            "SELECT seq, name, step, value FROM curve_points WHERE session_id = ? AND seq >= ? "
            "ORDER BY seq LIMIT ?",
            (session_id, after, limit),
        )

    def count_inputs(self, session_id: str) -> int:
        return self._read("SELECT count(*) FROM inputs WHERE session_id = ?", (session_id,))[0][0]

    def get_job(self, job_id: str) -> ProbeJob | None:
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        try:
            return _job(rows[0])
        except (ValueError, TypeError) as exc:
            log.error("job %s in %s cannot be read back: %s", job_id, self.path, exc)
            raise DamagedRecord(f"probe job {job_id} has a damaged record", field="job_id") from None

    def list_jobs(self, session_id: str) -> list[ProbeJob]:
        rows = self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE session_id = ? ORDER BY created_at, id", (session_id,)
        )
        out = []
        for r in rows:
            try:
                out.append(_job(r))
            except (ValueError, TypeError) as exc:
                log.error("job %r in %s cannot be listed: %s", r[0], self.path, exc)
        return out

    def job_options(self, job_id: str) -> dict[str, object]:
        rows = self._read("SELECT options FROM jobs WHERE id = ?", (job_id,))
        return json.loads(rows[0][0]) if rows else {}


def _settle(settled: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for fut, error in settled:
        if fut.cancelled():  # the request went away; its write still happened
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)


_JOB_COLUMNS = (
    "id, session_id, probe, setup, status, progress, outcome, error, created_at, started_at, finished_at, "
    "error_code"
)


def _job(row: tuple) -> ProbeJob:
    return ProbeJob(
        id=row[0],
        session_id=row[1],
        probe=row[2],
        setup=row[3],
        status=row[4],
        progress=json.loads(row[5]) if row[5] else None,
        outcome=json.loads(row[6]) if row[6] else None,
        error=row[7],
        created_at=datetime.fromisoformat(row[8]),
        started_at=_dt(row[9]),
        finished_at=_dt(row[10]),
        error_code=row[11],
    )


# -- units of work: small functions the service combines into one atomic write -----------------------


def insert_session(rec: SessionRecord) -> Op:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO sessions (id, created_at, updated_at, setup, history) VALUES (?, ?, ?, ?, ?)",
            (rec.id, _iso(rec.created_at), _iso(rec.updated_at), rec.setup, rec.history),
        )

    return op


def append_inputs(session_id: str, first_seq: int, inputs: Sequence[SessionInput]) -> Op:
    rows = [(session_id, first_seq + i, input_json(item).decode()) for i, item in enumerate(inputs)]

    def op(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO inputs (session_id, seq, body) VALUES (?, ?, ?)", rows)

    return op


def delete_input(session_id: str, seq: int) -> Op:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM inputs WHERE session_id = ? AND seq = ?", (session_id, seq))

    return op


def append_points(session_id: str, first_seq: int, points: Sequence[tuple[str, float, float | None]]) -> Op:
    rows = [(session_id, first_seq + i, name, step, value) for i, (name, step, value) in enumerate(points)]

    def op(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO curve_points (session_id, seq, name, step, value) VALUES (?, ?, ?, ?, ?)", rows
        )

    return op


def append_notes(session_id: str, first_seq: int, notes: Sequence[str]) -> Op:
    rows = [(session_id, first_seq + i, text) for i, text in enumerate(notes)]

    def op(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO notes (session_id, seq, text) VALUES (?, ?, ?)", rows)

    return op


@functools.lru_cache(maxsize=1024)
def _findings_json(findings: tuple[str, ...]) -> str:
    """`json.dumps` of a session's finding ids, kept per list: a few dozen distinct lists exist (the
    knowledge base's findings), and json.dumps's Python layers cost more than the rest of the op
    (issue 19)."""
    return json.dumps(list(findings))


def touch_session(session_id: str, updated_at: datetime, findings: list[str], complete: bool) -> Op:
    """Update the derived summary; fails the unit if the session was deleted meanwhile."""
    args = (_iso(updated_at), _findings_json(tuple(findings)), int(complete), session_id)

    def op(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "UPDATE sessions SET updated_at = ?, findings = ?, complete = ? WHERE id = ?", args
        )
        if cur.rowcount != 1:
            raise StoreError(f"session {session_id} no longer exists")

    return op


def save_curves(session_id: str, body: str) -> Op:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO session_curves (session_id, body) VALUES (?, ?) "
            "ON CONFLICT(session_id) DO UPDATE SET body = excluded.body",
            (session_id, body),
        )

    return op


def delete_session(session_id: str) -> Op:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    return op


def save_job(job: ProbeJob, options: Mapping[str, object] | None = None) -> Op:
    """Insert or update a job row (options are written on insert only)."""
    row = (
        job.id,
        job.session_id,
        job.probe,
        job.setup,
        json.dumps(dict(options or {})),
        job.status,
        job.progress.model_dump_json() if job.progress else None,
        job.outcome.model_dump_json() if job.outcome else None,
        job.error,
        _iso(job.created_at),
        _iso(job.started_at),
        _iso(job.finished_at),
        job.error_code,
    )

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO jobs (id, session_id, probe, setup, options, status, progress, outcome, error, "
            "created_at, started_at, finished_at, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET status = excluded.status, progress = excluded.progress, "
            "outcome = excluded.outcome, error = excluded.error, started_at = excluded.started_at, "
            "finished_at = excluded.finished_at, error_code = excluded.error_code",
            row,
        )

    return op
