"""The SQLite store on real files: schema versions and migrations, group commit, crash recovery."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import wait
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant import store as ops
from assistant.models import Answer, AnswerInput, WithdrawInput
from assistant.service_models import ProbeJob
from assistant.store import MIGRATIONS, SessionRecord, Store, StoreError

NEXT = max(MIGRATIONS) + 1  # a migration the tests add after the real ones


def record(sid: str = "s1") -> SessionRecord:
    now = datetime.now(UTC)
    return SessionRecord(sid, now, now, "quick", None)


def test_a_new_database_is_created_at_the_latest_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "deep" / "sessions.db").open()
    try:
        assert store.version == max(MIGRATIONS) == 4  # 2: jobs.error_code, 3: session_curves, 4: curve_points
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        store.close()


def test_inputs_notes_and_jobs_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db").open()
    rec = record()
    inputs = [
        AnswerInput(answer=Answer(question="train_loss_large", value="yes", note="2.3")),
        WithdrawInput(question="train_loss_large"),
    ]
    job = ProbeJob(
        id="j1", session_id="s1", probe="depth", setup="quick", status="queued", created_at=rec.created_at
    )
    store.write(
        [
            ops.insert_session(rec),
            ops.append_inputs("s1", 0, inputs),
            ops.append_notes("s1", 0, ["a note"]),
            ops.save_job(job, {"seeds": 2}),
        ]
    )
    store.close()
    store = Store(tmp_path / "s.db").open()  # a restart
    loaded = store.load_session("s1")
    assert loaded is not None and loaded.inputs == inputs and loaded.notes == ["a note"]
    assert loaded.setup == "quick" and loaded.created_at == rec.created_at
    assert store.get_job("j1").status == "interrupted"  # it was queued when the "server" stopped
    assert store.interrupted_on_open == ["j1"]
    assert store.job_options("j1") == {"seeds": 2}
    store.write([ops.delete_input("s1", 1)])
    assert store.count_inputs("s1") == 1
    store.write([ops.delete_session("s1")])
    assert store.load_session("s1") is None and store.get_job("j1") is None  # cascaded
    store.close()


def test_a_failing_unit_is_rolled_back_alone_in_its_batch(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db").open()
    store.write([ops.insert_session(record("a"))])
    futures = []
    for i in range(200):
        if i == 100:  # a duplicate session id: this unit fails, its neighbours in the batch commit
            futures.append(store.submit([ops.append_inputs("a", 0, []), ops.insert_session(record("a"))]))
        else:
            futures.append(store.submit([ops.insert_session(record(f"s{i}"))]))
    wait(futures)
    assert isinstance(futures[100].exception(), sqlite3.IntegrityError)
    assert all(f.exception() is None for i, f in enumerate(futures) if i != 100)
    assert len(store.list_sessions(1000)) == 200  # "a" plus 199
    with pytest.raises(StoreError, match="no longer exists"):
        store.write([ops.touch_session("gone", datetime.now(UTC), [], False)])
    store.close()


def _batch_after_gate(store: Store, units: list[list[ops.Op]]) -> list:
    """Submit `units` while the writer is held inside a first unit, so that they form ONE batch."""
    gate, holding = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        holding.set()
        gate.wait(10)

    first = store.submit([hold])
    assert holding.wait(10)
    futures = [store.submit(unit) for unit in units]
    gate.set()
    wait([first, *futures])
    return futures


def test_a_unit_failing_after_its_own_write_leaves_nothing_and_its_batch_commits(tmp_path: Path) -> None:
    """In one batch (made so by holding the writer), a unit that writes and then fails (a session
    inserted, then an update of a session that does not exist) is rolled back entirely, and the
    units before and after it in the same transaction are committed and on disk."""
    store = Store(tmp_path / "s.db").open()
    stamp = datetime.now(UTC)
    good = _batch_after_gate(store, [[ops.insert_session(record(f"g{i}"))] for i in range(5)])
    assert all(f.exception() is None for f in good)
    futures = _batch_after_gate(
        store,
        [
            [ops.insert_session(record("a1"))],
            [ops.insert_session(record("x")), ops.touch_session("gone", stamp, [], False)],
            [ops.insert_session(record("a2")), ops.touch_session("a2", stamp, ["f"], True)],
        ],
    )
    assert futures[0].exception() is None and futures[2].exception() is None
    assert isinstance(futures[1].exception(), StoreError)
    assert "no longer exists" in str(futures[1].exception())
    ids = {s.id for s in store.list_sessions(100)}
    assert ids == {"g0", "g1", "g2", "g3", "g4", "a1", "a2"}  # "x" was rolled back with its unit
    store.close()
    store = Store(tmp_path / "s.db").open()  # and it is all on disk
    assert {s.id for s in store.list_sessions(100)} == ids
    store.close()


def test_a_unit_alone_in_its_batch_failing_after_its_own_write_leaves_nothing(tmp_path: Path) -> None:
    """A batch of one unit is committed without a savepoint (issue 19): a unit that writes and then
    fails must still leave nothing behind, and the writer must go on committing the next ones."""
    store = Store(tmp_path / "s.db").open()
    stamp = datetime.now(UTC)
    store.write([ops.insert_session(record("a"))])  # one at a time: each write() is a batch of one
    with pytest.raises(StoreError, match="no longer exists"):
        store.write([ops.insert_session(record("x")), ops.touch_session("gone", stamp, [], False)])
    with pytest.raises(sqlite3.IntegrityError):
        store.write([ops.insert_session(record("b")), ops.insert_session(record("a"))])
    store.write([ops.insert_session(record("c")), ops.touch_session("c", stamp, ["f"], True)])
    assert {s.id for s in store.list_sessions(100)} == {"a", "c"}
    store.close()
    store = Store(tmp_path / "s.db").open()  # and it is all on disk
    assert {(s.id, tuple(s.findings), s.complete) for s in store.list_sessions(100)} == {
        ("a", (), False),
        ("c", ("f",), True),
    }
    store.close()


def test_a_database_from_a_newer_traindoc_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this traindoc understands"):
        Store(path).open()


def test_a_migration_upgrades_an_old_database_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path).open()
    store.write([ops.insert_session(record("old"))])
    store.close()

    def title(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE sessions ADD COLUMN title TEXT NOT NULL DEFAULT ''")

    nxt = max(MIGRATIONS) + 1
    store = Store(path, migrations={**MIGRATIONS, nxt: title}).open()
    assert store.version == nxt and store.load_session("old") is not None
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == nxt
    assert conn.execute("SELECT title FROM sessions").fetchall() == [("",)]
    conn.close()


def test_a_version_1_database_gains_job_error_codes_and_keeps_its_jobs(tmp_path: Path) -> None:
    """Version 2 adds jobs.error_code: a job written by a version-1 server reads back without a code,
    and a job saved afterwards keeps the code it was given (read with plain SQL, not the store)."""
    path = tmp_path / "s.db"
    rec = record()
    conn = sqlite3.connect(path, isolation_level=None)  # a version-1 file, as a version-1 server left it
    conn.execute("BEGIN")
    MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    stamp = rec.created_at.isoformat()
    with conn:
        conn.execute("INSERT INTO sessions (id, created_at, updated_at) VALUES ('s1', ?, ?)", (stamp, stamp))
        conn.execute(
            "INSERT INTO jobs (id, session_id, probe, status, error, created_at) "
            "VALUES ('j0', 's1', 'depth', 'failed', 'old failure', ?)",
            (stamp,),
        )
    conn.close()
    store = Store(path).open()
    try:
        assert store.version == max(MIGRATIONS)
        job = store.get_job("j0")
        assert job is not None and job.error == "old failure" and job.error_code is None
        failed = job.model_copy(update={"id": "j1", "error": "diverged", "error_code": "training_diverged"})
        store.write([ops.save_job(failed)])
        assert store.get_job("j1").error_code == "training_diverged"
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT error_code FROM jobs WHERE id = 'j1'").fetchone() == ("training_diverged",)
    conn.close()


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).open().close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE sessions ADD COLUMN x TEXT")
        raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        Store(path, migrations={**MIGRATIONS, max(MIGRATIONS) + 1: broken}).open()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == max(MIGRATIONS)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(sessions)")]
    assert "x" not in columns
    conn.close()


def test_an_unreadable_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the session database"):
        Store(path).open()
