"""Every endpoint and every error path, over HTTP against a real `traindoc serve` on 127.0.0.1."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.conftest import assert_one_line_error, run_cli
from tests.service.conftest import TOKEN, ServerProcess, new_session
from traindoc.errors import CODES, HTTP_ERROR, INTERNAL_ERROR

pytestmark = pytest.mark.slow


def error(r: httpx.Response, status: int, field: str | None = "?") -> str:
    """The API's one error shape; returns the message."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "field", "code"}, body
    assert body["error"]["code"] in {*CODES, INTERNAL_ERROR, HTTP_ERROR}, body  # docs/service.md
    assert body["error"]["message"] and "\n" not in body["error"]["message"]
    if field != "?":
        assert body["error"]["field"] == field, body
    return body["error"]["message"]


# -- the door -------------------------------------------------------------------------------------------


def test_health_is_open_everything_else_needs_the_token(server: ServerProcess) -> None:
    with server.client(token=None) as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200
        # the store's schema version: 4 (2 jobs.error_code, 3 session_curves, 4 curve_points)
        assert health.json()["status"] == "ok" and health.json()["schema_version"] == 4
        for method, path in [
            ("GET", "/sessions"),
            ("POST", "/sessions"),
            ("GET", "/setups"),
            ("GET", "/openapi.json"),
        ]:
            r = anonymous.request(method, path)
            assert "missing bearer token" in error(r, 401, "authorization")
            assert r.headers["www-authenticate"] == "Bearer"
    with server.client(token="not-the-right-token-at-all") as wrong:
        assert "wrong bearer token" in error(wrong.get("/sessions"), 401)
    with server.client() as right:
        assert right.get("/sessions").status_code == 200


def test_oversized_bodies_are_refused_with_413(http: httpx.Client) -> None:
    sid = new_session(http)
    huge = {"question": "train_loss_large", "value": "yes", "note": "x" * 300_000}
    assert "larger than" in error(http.post(f"/sessions/{sid}/answers", json=huge), 413)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 10_000

    r = http.post(f"/sessions/{sid}/answers", content=chunks(), headers={"content-type": "application/json"})
    assert "larger than" in error(r, 413)
    assert http.get(f"/sessions/{sid}").json()["inputs"] == []  # nothing was recorded


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path) -> None:
    run = run_cli(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--db",
        str(tmp_path / "x.db"),
        env={"TRAINDOC_TOKEN": ""},
    )
    assert_one_line_error(run, "needs a token")
    assert not (tmp_path / "x.db").exists()


def test_serve_refuses_bad_registrations(tmp_path) -> None:
    db = str(tmp_path / "x.db")
    assert_one_line_error(
        run_cli("serve", "--db", db, "--setup", "a=missing.py:setup"), "setup file not found"
    )
    assert_one_line_error(run_cli("serve", "--db", db, "--setup", "no-equals-sign"), "NAME=SPEC")
    assert_one_line_error(run_cli("serve", "--db", db, "--setup", "../x=demo:healthy"), "setup name")
    assert_one_line_error(run_cli("serve", "--db", db, "--history", "h=/no/such/run"), "history not found")


def test_port_in_use_is_one_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        run = run_cli("serve", "--port", port, "--db", str(tmp_path / "x.db"))
    assert_one_line_error(run, "cannot listen on 127.0.0.1:" + port)


# -- catalog --------------------------------------------------------------------------------------------


def test_setups_and_histories_list_what_the_server_registered(http: httpx.Client) -> None:
    setups = {s["name"]: s for s in http.get("/setups").json()}
    assert set(setups) == {"quick", "slow", "raises", "hangs", "hog", "dies"}
    assert setups["quick"]["kind"] == "file" and setups["quick"]["description"].endswith("setups.py:quick")
    assert http.get("/histories").json() == []


# -- sessions -------------------------------------------------------------------------------------------


def test_session_lifecycle(http: httpx.Client) -> None:
    r = http.post("/sessions", json={"setup": "quick"})
    assert r.status_code == 201
    created = r.json()
    sid = created["id"]
    assert len(sid) >= 20 and created["setup"] == "quick" and created["inputs"] == []
    assert [q["id"] for q in created["report"]["pending"]] == ["train_loss_large"]
    assert created["report"]["session_id"] == sid

    other = new_session(http)
    assert other != sid
    listed = [s["id"] for s in http.get("/sessions").json()]
    assert listed.index(other) < listed.index(sid)  # newest first
    assert http.get("/sessions", params={"limit": 1}).json()[0]["id"] == other
    assert http.get(f"/sessions/{sid}").json() == created

    assert http.delete(f"/sessions/{sid}").status_code == 204
    assert "no session" in error(http.get(f"/sessions/{sid}"), 404, "session_id")
    assert sid not in [s["id"] for s in http.get("/sessions").json()]
    error(http.delete(f"/sessions/{sid}"), 404)


def test_unknown_sessions_are_404_on_every_route(http: httpx.Client) -> None:
    sid = "no-such-session"
    for method, path, body in [
        ("GET", f"/sessions/{sid}", None),
        ("DELETE", f"/sessions/{sid}", None),
        ("GET", f"/sessions/{sid}/report", None),
        ("POST", f"/sessions/{sid}/answers", {"question": "train_loss_large", "value": "yes"}),
        ("PUT", f"/sessions/{sid}/answers/train_loss_large", {"value": "yes"}),
        ("DELETE", f"/sessions/{sid}/answers/train_loss_large", None),
        ("POST", f"/sessions/{sid}/undo", None),
        ("POST", f"/sessions/{sid}/jobs", {"probe": "baselines", "setup": "quick"}),
        ("GET", f"/sessions/{sid}/jobs", None),
        ("GET", "/sessions/" + "x" * 5000, None),
    ]:
        r = http.request(method, path, json=body)
        error(r, 404)


def test_create_with_unregistered_setup_or_history(http: httpx.Client) -> None:
    assert "no setup named" in error(http.post("/sessions", json={"setup": "nope"}), 404, "setup")
    assert "no history named" in error(http.post("/sessions", json={"history": "nope"}), 404, "history")
    error(http.post("/sessions", json={"setup": "/etc/passwd:main"}), 404, "setup")
    error(http.post("/sessions", json={"colour": "blue"}), 422, "colour")


# -- answers --------------------------------------------------------------------------------------------


def test_answer_change_withdraw_undo_and_report(http: httpx.Client) -> None:
    sid = new_session(http)
    base = f"/sessions/{sid}"
    s = http.post(
        f"{base}/answers", json={"question": "train_loss_large", "value": "yes", "note": "2.3"}
    ).json()
    assert s["report"]["answers"]["train_loss_large"]["note"] == "2.3"
    assert [q["id"] for q in s["report"]["pending"]] == ["deeper_model_worse"]
    s = http.post(f"{base}/answers", json={"question": "deeper_model_worse", "value": "no"}).json()
    assert [f["id"] for f in s["report"]["findings"]] == ["model_bias"] and s["report"]["complete"]
    assert http.get(f"{base}/report").json() == s["report"]

    # a different value for an answered question is refused; a change re-flows the path
    msg = error(http.post(f"{base}/answers", json={"question": "train_loss_large", "value": "no"}), 422)
    assert "already answered" in msg
    s = http.put(f"{base}/answers/train_loss_large", json={"value": "no"}).json()
    assert [f["id"] for f in s["report"]["findings"]] == []
    assert [q["id"] for q in s["report"]["pending"]] == ["test_loss_large"]
    assert "deeper_model_worse" in s["report"]["inactive_answers"]

    s = http.delete(f"{base}/answers/train_loss_large").json()
    assert s["report"]["answers"] == {} and len(s["inputs"]) == 4
    s = http.post(f"{base}/undo").json()  # undo the withdrawal
    assert s["report"]["answers"]["train_loss_large"]["value"] == "no" and len(s["inputs"]) == 3
    summary = next(x for x in http.get("/sessions").json() if x["id"] == sid)
    assert summary["findings"] == [] and summary["complete"] is False


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "needle"),
    [
        (
            "POST",
            "/answers",
            {"question": "train_loss_large", "value": "maybe"},
            422,
            "train_loss_large",
            "yes, no, unsure",
        ),
        (
            "POST",
            "/answers",
            {"question": "no_such_question", "value": "yes"},
            422,
            "no_such_question",
            "unknown question",
        ),
        ("POST", "/answers", {"question": "train_loss_large"}, 422, "value", "value"),
        ("POST", "/answers", {"question": "train_loss_large", "value": 3}, 422, "value", "value"),
        (
            "POST",
            "/answers",
            {"question": "train_loss_large", "value": "yes", "extra": 1},
            422,
            "extra",
            "extra",
        ),
        (
            "POST",
            "/answers",
            {"question": "val_loss_large", "value": "yes"},
            422,
            "val_loss_large",
            "not asked",
        ),
        ("POST", "/answers", [1, 2], 422, None, "valid"),
        ("PUT", "/answers/train_loss_large", {"value": "no"}, 422, "train_loss_large", "no answer to change"),
        ("DELETE", "/answers/train_loss_large", None, 422, "train_loss_large", "no answer to withdraw"),
        ("POST", "/undo", None, 422, None, "nothing to undo"),
    ],
)
def test_bad_answers_are_422_naming_the_field(http, method, path, body, status, field, needle) -> None:
    sid = new_session(http)
    r = http.request(method, f"/sessions/{sid}{path}", json=body)
    assert needle in error(r, status, field)
    assert http.get(f"/sessions/{sid}").json()["inputs"] == []  # the session is untouched


def test_malformed_json_is_422(http: httpx.Client) -> None:
    sid = new_session(http)
    r = http.post(
        f"/sessions/{sid}/answers", content=b'{"question": ', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in error(r, 422)


def test_sessions_never_see_each_others_answers(http: httpx.Client) -> None:
    a, b = new_session(http), new_session(http)
    http.post(f"/sessions/{a}/answers", json={"question": "train_loss_large", "value": "yes"})
    http.post(f"/sessions/{b}/answers", json={"question": "train_loss_large", "value": "no"})
    http.post(
        f"/sessions/{a}/answers", json={"question": "deeper_model_worse", "value": "no", "note": "secret-a"}
    )
    http.post(f"/sessions/{b}/answers", json={"question": "test_loss_large", "value": "yes"})
    ra, rb = http.get(f"/sessions/{a}").json(), http.get(f"/sessions/{b}").json()
    assert set(ra["report"]["answers"]) == {"train_loss_large", "deeper_model_worse"}
    assert set(rb["report"]["answers"]) == {"train_loss_large", "test_loss_large"}
    assert "secret-a" not in json.dumps(rb) and b not in json.dumps(ra)
    assert [f["id"] for f in ra["report"]["findings"]] == ["model_bias"]
    assert rb["report"]["findings"] == []


# -- probe jobs: the refusals (the runs are in test_jobs.py) ----------------------------------------------


def test_probe_refusals(http: httpx.Client) -> None:
    bare = new_session(http)
    msg = error(http.post(f"/sessions/{bare}/jobs", json={"probe": "baselines"}), 422, "setup")
    assert "no setup" in msg
    r = http.post(f"/sessions/{bare}/jobs", json={"probe": "baselines", "setup": "unregistered"})
    assert "no setup named" in error(r, 404, "setup")
    r = http.post(
        f"/sessions/{bare}/jobs", json={"probe": "baselines", "setup": "tests/service/setups.py:quick"}
    )
    error(r, 404, "setup")  # a path is just an unknown name: never imported
    sid = new_session(http, setup="quick")
    assert "unknown probe" in error(
        http.post(f"/sessions/{sid}/jobs", json={"probe": "astrology"}), 422, "probe"
    )
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "curvature", "options": {"samples": "many"}})
    assert "must be a int" in error(r, 422, "options.samples")
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "curvature", "options": {"mode": "sideways"}})
    error(r, 422, "options.mode")
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "depth", "options": {"rm_rf": True}})
    assert "no option" in error(r, 422, "options.rm_rf")
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "auto", "options": {"x": 1}})
    error(r, 422, "options.x")
    assert http.get(f"/sessions/{sid}/jobs").json() == []
    error(http.get("/jobs/nope"), 404, "job_id")
    error(http.get("/jobs/nope/events"), 404)
    error(http.post("/jobs/nope/cancel"), 404)


# -- the OpenAPI document --------------------------------------------------------------------------------


def test_openapi_describes_every_route_and_body(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert spec["info"]["title"] == "traindoc"
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routes == {
        ("GET", "/health"),
        ("GET", "/setups"),
        ("GET", "/histories"),
        ("POST", "/sessions"),
        ("GET", "/sessions"),
        ("GET", "/sessions/{session_id}"),
        ("DELETE", "/sessions/{session_id}"),
        ("GET", "/sessions/{session_id}/report"),
        ("POST", "/sessions/{session_id}/answers"),
        ("PUT", "/sessions/{session_id}/answers/{question}"),
        ("DELETE", "/sessions/{session_id}/answers/{question}"),
        ("POST", "/sessions/{session_id}/undo"),
        ("POST", "/sessions/{session_id}/history"),
        ("POST", "/sessions/{session_id}/outcomes"),
        ("GET", "/sessions/{session_id}/curves"),  # the TUI's live curves (issue 15)
        ("PUT", "/sessions/{session_id}/curves"),
        ("GET", "/sessions/{session_id}/points"),  # a watched run's streamed points (issue 16)
        ("POST", "/sessions/{session_id}/points"),
        ("POST", "/sessions/{session_id}/jobs"),
        ("GET", "/sessions/{session_id}/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("GET", "/jobs/{job_id}/events"),
        ("POST", "/jobs/{job_id}/cancel"),
    }
    schemas = spec["components"]["schemas"]
    for name in (
        "SessionPublic",
        "SessionSummary",
        "SessionCreate",
        "AnswerCreate",
        "ProbeJob",
        "Report",
        "ErrorBody",
    ):
        assert name in schemas, name
    answer = spec["paths"]["/sessions/{session_id}/answers"]["post"]
    assert answer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AnswerCreate")
    assert answer["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SessionPublic"
    )
    assert answer["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_responses_validate_against_the_openapi_schemas(http: httpx.Client) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    spec = http.get("/openapi.json").json()

    def check(body: object, schema_name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        jsonschema.validate(body, schema)

    sid = new_session(http)
    check(
        http.post(f"/sessions/{sid}/answers", json={"question": "train_loss_large", "value": "yes"}).json(),
        "SessionPublic",
    )
    check(http.get(f"/sessions/{sid}/report").json(), "Report")
    for summary in http.get("/sessions").json():
        check(summary, "SessionSummary")
    check(http.get("/sessions/nope").json(), "ErrorBody")
    check(http.get("/health").json(), "Health")


def test_token_is_checked_by_comparing_whole_header(server: ServerProcess) -> None:
    with server.client(token=TOKEN + "x") as longer, server.client(token=TOKEN[:-1]) as shorter:
        error(longer.get("/sessions"), 401)
        error(shorter.get("/sessions"), 401)
    r = httpx.get(f"{server.url}/sessions", headers={"Authorization": TOKEN})  # no "Bearer"
    error(r, 401)


def test_a_config_file_registers_setups_and_histories(spawn_server, tmp_path) -> None:
    import os

    from tests.service.conftest import SETUPS

    (tmp_path / "run.csv").write_text("epoch,loss\n0,2.3\n1,2.2\n2,2.1\n")
    config = tmp_path / "traindoc.toml"
    config.write_text(
        f'[setups]\ncfg = "{os.path.relpath(SETUPS, tmp_path)}:quick"\ndemo = "demo:healthy"\n'
        '[histories]\nrun = "run.csv"\n[jobs]\ntimeout_s = 30\n'
    )
    srv = spawn_server("--config", str(config))
    with srv.client() as http:
        setups = {s["name"]: s for s in http.get("/setups").json()}
        assert setups["cfg"]["kind"] == "file" and setups["cfg"]["description"] == f"{SETUPS}:quick"
        assert setups["demo"]["kind"] == "demo"
        assert http.get("/histories").json() == [{"name": "run", "description": str(tmp_path / "run.csv")}]


def test_a_bad_config_file_is_one_line(tmp_path) -> None:
    config = tmp_path / "traindoc.toml"
    config.write_text('colour = "blue"\n')
    assert_one_line_error(run_cli("serve", "--config", str(config)), "unknown key(s) colour")
    config.write_text("[setups\n")
    assert_one_line_error(run_cli("serve", "--config", str(config)), "not valid TOML")
    config.write_text('[setups]\nx = "nowhere.py:f"\n')
    assert_one_line_error(run_cli("serve", "--config", str(config)), "setup file not found")
    assert_one_line_error(
        run_cli("serve", "--config", str(tmp_path / "missing.toml")), "config file not found"
    )
