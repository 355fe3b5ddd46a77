"""The client: embedded mode end to end, its errors, and `traindoc diagnose --server`."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from assistant.client import TraindocClient
from assistant.errors import AuthError, ConflictError, InputError, NotFoundError, ServiceUnavailable
from tests.conftest import assert_one_line_error, run_cli
from tests.service.conftest import SETUPS, TOKEN, ServerProcess

pytestmark = pytest.mark.slow


def test_embedded_client_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINDOC_HOME", str(tmp_path / "home"))
    with TraindocClient.embedded(setups={"quick": f"{SETUPS}:quick", "slow": f"{SETUPS}:slow"}) as client:
        assert client.base_url.startswith("http://127.0.0.1:")
        assert client.health()["status"] == "ok"
        # a random token protects even the embedded server from other local users
        assert httpx.get(f"{client.base_url}/sessions").status_code == 401
        assert {s.name: s.kind for s in client.list_setups()} == {"quick": "file", "slow": "file"}
        assert client.list_histories() == []

        session = client.create_session(setup="quick")
        assert session.setup == "quick" and session.report.pending[0].id == "train_loss_large"
        session = client.answer(session.id, "train_loss_large", "no", note="0.01 after 10 epochs")
        assert session.report.answers["train_loss_large"].note == "0.01 after 10 epochs"
        session = client.change(session.id, "train_loss_large", "yes")
        assert session.report.pending[0].id == "deeper_model_worse"
        session = client.withdraw(session.id, "train_loss_large")
        assert session.report.answers == {}
        session = client.undo(session.id)
        assert session.report.answers["train_loss_large"].value == "yes"
        client.withdraw(session.id, "train_loss_large")

        job = client.start_probe(session.id, "baselines")
        assert job.status == "queued" and job.setup == "quick"
        events = list(client.follow_probe(job.id))
        assert events[0].kind == "status" and events[-1].kind == "done"
        assert events[-1].job is not None and events[-1].job.status == "done"
        assert any(e.kind == "progress" and e.progress is not None for e in events)
        report = client.report(session.id)
        measured = events[-1].job.outcome.answers["train_loss_large"]
        if measured != "unsure":
            assert report.answers["train_loss_large"].source == "probe"
        assert client.get_probe(job.id) == events[-1].job
        assert [j.id for j in client.list_probes(session.id)] == [job.id]

        slow = client.start_probe(session.id, "baselines", setup="slow")
        for event in client.follow_probe(slow.id):
            if event.kind == "progress":
                break
        assert client.cancel_probe(slow.id).status == "cancelled"

        assert session.id in [s.id for s in client.list_sessions()]
        client.delete_session(session.id)
        with pytest.raises(NotFoundError):
            client.get_session(session.id)
    assert (tmp_path / "home" / "sessions.db").exists()  # the default database location


def test_embedded_sessions_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with TraindocClient.embedded(db_path=db) as client:
        sid = client.create_session().id
        client.answer(sid, "train_loss_large", "yes")
    with TraindocClient.embedded(db_path=db) as client:
        assert client.report(sid).answers["train_loss_large"].value == "yes"
        assert [s.id for s in client.list_sessions()] == [sid]


def test_client_errors_are_typed_and_one_line(tmp_path: Path) -> None:
    with TraindocClient.embedded(
        db_path=str(tmp_path / "s.db"), setups={"quick": f"{SETUPS}:quick"}
    ) as client:
        sid = client.create_session().id
        with pytest.raises(InputError) as bad:
            client.answer(sid, "train_loss_large", "maybe")
        assert bad.value.field == "train_loss_large" and "yes, no, unsure" in bad.value.message
        with pytest.raises(InputError, match="not asked on the current path"):
            client.answer(sid, "val_loss_large", "yes")
        with pytest.raises(NotFoundError, match="no session"):
            client.report("nope")
        with pytest.raises(NotFoundError) as missing:
            client.start_probe(sid, "baselines", setup="elsewhere")
        assert missing.value.field == "setup"
        with pytest.raises(NotFoundError):
            client.create_session(setup="../../etc/passwd")
        job = client.start_probe(sid, "baselines", setup="quick")
        list(client.follow_probe(job.id))
        with pytest.raises(ConflictError, match="already finished"):
            client.cancel_probe(job.id)
        with (
            TraindocClient(client.base_url, token="wrong-token-wrong-token") as intruder,
            pytest.raises(AuthError),
        ):
            intruder.list_sessions()


def test_a_server_that_is_down_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens once closed
    with TraindocClient(f"http://127.0.0.1:{port}", retries=1) as client:
        with pytest.raises(ServiceUnavailable) as down:
            client.list_sessions()
        assert f"http://127.0.0.1:{port}" in down.value.message and "refused" in down.value.message
        with pytest.raises(ServiceUnavailable):
            list(client.follow_probe("x"))


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with TraindocClient(url, timeout=0.5) as client, pytest.raises(ServiceUnavailable, match="timed out"):
            client.health()
        for conn in accepted:
            conn.close()


# -- traindoc diagnose --server ----------------------------------------------------------------------------


def test_diagnose_against_a_server_measures_with_the_registered_setup(server: ServerProcess) -> None:
    run = run_cli(
        "diagnose", "--server", server.url, "--setup", "quick", "--json", env={"TRAINDOC_TOKEN": TOKEN}
    )
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["answers"] and all(a["source"] == "probe" for a in report["answers"].values())
    sid = report["session_id"]
    with server.client() as http:
        jobs = http.get(f"/sessions/{sid}/jobs").json()
        assert [j["probe"] for j in jobs] == ["auto"] and jobs[0]["status"] == "done"


def test_diagnose_against_a_server_user_answers_win(server: ServerProcess, tmp_path: Path) -> None:
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"train_loss_large": "yes", "deeper_model_worse": "no"}))
    run = run_cli(
        "diagnose",
        "--server",
        server.url,
        "--setup",
        "quick",
        "--answers",
        str(answers),
        "--json",
        env={"TRAINDOC_TOKEN": TOKEN},
    )
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["answers"]["train_loss_large"]["source"] == "user"
    assert report["answers"]["deeper_model_worse"]["source"] == "user"
    assert [f["id"] for f in report["findings"]] == ["model_bias"]


def test_diagnose_against_a_server_from_answers_alone(server: ServerProcess, tmp_path: Path) -> None:
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"deeper_model_worse": "yes", "train_loss_large": "yes"}))  # out of order
    run = run_cli(
        "diagnose", "--server", server.url, "--answers", str(answers), "--json", env={"TRAINDOC_TOKEN": TOKEN}
    )
    assert run.code == 0, run.stderr
    assert [f["id"] for f in json.loads(run.stdout)["findings"]] == ["optimization_issue"]
    answers.write_text(json.dumps({"val_loss_large": "yes"}))
    run = run_cli(
        "diagnose", "--server", server.url, "--answers", str(answers), env={"TRAINDOC_TOKEN": TOKEN}
    )
    assert_one_line_error(run, "val_loss_large is not asked")


def test_diagnose_against_a_server_errors(server: ServerProcess) -> None:
    env = {"TRAINDOC_TOKEN": TOKEN}
    assert_one_line_error(
        run_cli("diagnose", "--server", server.url, "--setup", "unknown", env=env), "no setup named"
    )
    assert_one_line_error(
        run_cli("diagnose", "--server", server.url, "--demo", "healthy", env=env), "--demo runs locally"
    )
    assert_one_line_error(
        run_cli("diagnose", "--server", server.url, "--setup", "quick", env={"TRAINDOC_TOKEN": ""}),
        "bearer token",
    )
    run = run_cli("diagnose", "--server", server.url, "--setup", "raises", env=env)
    assert_one_line_error(run, "automatic diagnosis failed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert_one_line_error(
        run_cli("diagnose", "--server", f"http://127.0.0.1:{port}", env=env), "cannot reach"
    )


# -- histories ---------------------------------------------------------------------------------------------


def diverged_history(path: Path) -> Path:
    """A plain per-epoch CSV whose training loss blows up and turns NaN."""
    rows = ["epoch,loss,val_loss"]
    for epoch in range(30):
        loss = 2.3 * 1.3**epoch if epoch < 20 else float("nan")
        rows.append(f"{epoch},{loss},{loss * 1.1}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_registered_history_answers_questions(spawn_server, tmp_path: Path) -> None:
    history = diverged_history(tmp_path / "run.csv")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01 not a history at all")
    srv = spawn_server("--history", f"run={history}", "--history", f"bad={garbage}")
    with TraindocClient(srv.url, token=srv.token) as client:
        assert {h.name for h in client.list_histories()} == {"run", "bad"}
        session = client.create_session(history="run")
        assert session.history == "run" and session.inputs == []  # read on request, not on creation
        session = client.apply_history(session.id, "run")
        answers = session.report.answers
        assert answers["train_loss_large"].source == "history"
        assert (
            answers["train_loss_large"].evidence is not None and answers["train_loss_large"].evidence.summary
        )
        assert "diverged" in [f.id for f in session.report.findings]
        with pytest.raises(NotFoundError, match="no history named"):
            client.apply_history(session.id, "../run.csv")  # a path is not a name
        with pytest.raises(InputError) as bad:
            client.apply_history(session.id, "bad")
        assert bad.value.field == "history" and "\n" not in bad.value.message
        assert client.get_session(session.id).inputs == session.inputs  # the failure changed nothing


def test_diagnose_against_a_server_with_a_history(spawn_server, tmp_path: Path) -> None:
    history = diverged_history(tmp_path / "run.csv")
    srv = spawn_server("--history", f"run={history}")
    run = run_cli(
        "diagnose", "--server", srv.url, "--history", "run", "--json", env={"TRAINDOC_TOKEN": TOKEN}
    )
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert "diverged" in [f["id"] for f in report["findings"]]
    assert report["answers"]["loss_diverged"]["source"] == "history"


def test_the_client_says_job_like_the_api_and_keeps_the_old_names() -> None:
    """The API's paths and models say "job" (/jobs, ProbeJob); so does the client. The names it had
    before (start_probe ...) are the same methods, so scripts written against them keep working."""
    pairs = {"start_probe": "start_job", "follow_probe": "follow_job", "cancel_probe": "cancel_job"}
    pairs |= {"get_probe": "get_job", "list_probes": "list_jobs"}
    for old, new in pairs.items():
        assert getattr(TraindocClient, old) is getattr(TraindocClient, new)
