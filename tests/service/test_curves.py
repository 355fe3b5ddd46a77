"""Curves watched live, kept with the session in the service (issue 15): GET/PUT /sessions/{id}/curves.

A real `traindoc serve` on loopback with its real SQLite file. The curves are written by the test, so
what must come back is known; the restart, the cascade on delete and the upgrade of a database made
before the table existed are checked on the file itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from assistant.client import TraindocClient
from assistant.errors import NotFoundError
from assistant.service_models import MAX_CURVE_POINTS, SessionCurves
from assistant.store import MIGRATIONS
from tests.service.conftest import TOKEN, ServerProcess, new_session

DEPTH = {"depth": {"depth 1": [[0.0, 2.3], [10.0, 1.1], [20.0, 0.4]], "depth 3": [[0.0, 2.3], [20.0, 2.2]]}}


def test_curves_round_trip_and_replace(http: httpx.Client) -> None:
    sid = new_session(http)
    r = http.get(f"/sessions/{sid}/curves")
    assert r.status_code == 200 and r.json() == {"curves": {}}  # none stored yet
    r = http.put(f"/sessions/{sid}/curves", json={"curves": DEPTH})
    assert r.status_code == 200 and r.json() == {"curves": DEPTH}
    assert http.get(f"/sessions/{sid}/curves").json() == {"curves": DEPTH}
    later = {"curvature": {"lambda_max": [[1.0, 3.0], [2.0, 3.5]]}}
    http.put(f"/sessions/{sid}/curves", json={"curves": later})
    assert http.get(f"/sessions/{sid}/curves").json() == {"curves": later}  # PUT replaces


def test_bad_curves_are_refused_naming_the_field(http: httpx.Client) -> None:
    sid = new_session(http)
    cases = {
        '{"curves": {"depth": {"a": [[0, "x"]]}}}': "curves",
        '{"curves": {"depth": {"a": [[0, NaN]]}}}': "",  # not JSON a strict parser accepts, or not finite
        '{"curves": {"depth": {"a": [[0, 1, 2]]}}}': "curves",
        '{"curve": {}}': "curve",
    }
    for body, field in cases.items():
        r = http.put(f"/sessions/{sid}/curves", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        error = r.json()["error"]
        assert "\n" not in error["message"] and "Traceback" not in error["message"]
        assert field in (error.get("field") or "") + error["message"], (body, error)
    too_many = {
        "depth": {f"c{i}": [[float(j), 1.0] for j in range(MAX_CURVE_POINTS // 10 + 1)] for i in range(10)}
    }
    # the model's own bound (it holds on servers given a larger body limit), then through the API
    with pytest.raises(ValidationError, match="at most"):
        SessionCurves(curves=too_many)
    r = http.put(f"/sessions/{sid}/curves", json={"curves": too_many})
    # ~240 KB: under the default body limit, so the model's bound answers
    assert r.status_code == 422 and "at most 20000" in r.json()["error"]["message"]
    assert http.get(f"/sessions/{sid}/curves").json() == {"curves": {}}  # nothing half-stored
    assert http.get("/sessions/no-such-session/curves").status_code == 404
    assert http.put("/sessions/no-such-session/curves", json={"curves": {}}).status_code == 404


def test_curves_survive_a_restart_and_go_with_the_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    srv = ServerProcess(db).start()
    try:
        with srv.client() as http:
            sid = new_session(http)
            http.put(f"/sessions/{sid}/curves", json={"curves": DEPTH})
    finally:
        srv.stop()
    srv = ServerProcess(db).start()  # "another machine": only the service's database carries them
    try:
        client = TraindocClient(srv.url, token=TOKEN)
        try:
            stored = client.get_curves(sid)
            assert stored == SessionCurves(curves=DEPTH)
            client.delete_session(sid)
            try:
                client.get_curves(sid)
            except NotFoundError:
                pass
            else:
                raise AssertionError("curves of a deleted session still served")
        finally:
            client.close()
    finally:
        srv.stop()
    with (
        contextlib.closing(sqlite3.connect(db)) as conn,
        conn,
    ):  # ON DELETE CASCADE: the row went with the session
        assert conn.execute("SELECT COUNT(*) FROM session_curves").fetchone()[0] == 0


def test_a_database_from_before_the_curves_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)  # a version-1 file, as a version-1 server left it
    conn.execute("BEGIN")
    MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    client = TraindocClient.embedded(db_path=str(db))
    try:
        sid = client.create_session().id
        assert client.get_curves(sid).curves == {}
        client.put_curves(sid, SessionCurves(curves=DEPTH))
        assert client.get_curves(sid).curves["depth"]["depth 1"][-1] == (20.0, 0.4)
    finally:
        client.close()
