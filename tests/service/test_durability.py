"""kill -9 in the middle of a stream of answers and a running probe: after a restart, every
acknowledged answer and every finished probe result is there, and the running job says 'interrupted'."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.service.conftest import job_processes, new_session, wait_for_status

pytestmark = pytest.mark.slow

DIALOGUE = [
    ("train_loss_large", "yes"),
    ("deeper_model_worse", "yes"),
    ("gradient_norm_small", "yes"),
    ("hessian_negative_eigenvalue", "yes"),
]


def answer_stream(
    url: str, token: str, acknowledged: list[tuple[str, str, str]], stop: threading.Event
) -> None:
    """A user answering dialogue after dialogue until the server dies; records what was acknowledged."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        try:
            while not stop.is_set():
                sid = new_session(http)
                for question, value in DIALOGUE:
                    r = http.post(f"/sessions/{sid}/answers", json={"question": question, "value": value})
                    assert r.status_code == 200, r.text
                    acknowledged.append((sid, question, value))
        except (httpx.TransportError, AssertionError):
            return  # the server was killed mid-request: that answer was never acknowledged


def test_kill9_loses_no_acknowledged_answer_and_interrupts_the_running_probe(spawn_server) -> None:
    srv = spawn_server(name="crash")
    with srv.client() as http:
        finished_sid = new_session(http, setup="quick")
        finished = http.post(f"/sessions/{finished_sid}/jobs", json={"probe": "baselines"}).json()
        finished = wait_for_status(http, finished["id"], {"done", "failed"})
        assert finished["status"] == "done"
        before = http.get(f"/sessions/{finished_sid}").json()

        running_sid = new_session(http, setup="slow")
        running = http.post(f"/sessions/{running_sid}/jobs", json={"probe": "baselines"}).json()
        while http.get(f"/jobs/{running['id']}").json()["progress"] is None:  # its process is training
            time.sleep(0.1)
        assert job_processes(running["id"])

    acknowledged: list[tuple[str, str, str]] = []
    stop = threading.Event()
    users = [
        threading.Thread(target=answer_stream, args=(srv.url, srv.token, acknowledged, stop))
        for _ in range(8)
    ]
    for user in users:
        user.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.kill9()  # while the users are still sending
    stop.set()
    for user in users:
        user.join(30)
    assert len(acknowledged) >= 400

    srv.start()  # same database
    with srv.client() as http:
        lost = []
        sessions: dict[str, dict] = {}
        for sid, question, value in acknowledged:
            if sid not in sessions:
                r = http.get(f"/sessions/{sid}")
                sessions[sid] = r.json()["report"] if r.status_code == 200 else {"answers": {}}
            answer = sessions[sid]["answers"].get(question)
            if answer is None or answer["value"] != value:
                lost.append((sid, question))
        assert lost == [], f"{len(lost)} acknowledged answers lost"

        assert http.get(f"/sessions/{finished_sid}").json() == before  # the finished probe's result
        assert http.get(f"/jobs/{finished['id']}").json() == finished
        interrupted = http.get(f"/jobs/{running['id']}").json()
        assert interrupted["status"] == "interrupted" and "stopped" in interrupted["error"]
        assert interrupted["finished_at"] is not None
        assert http.get(f"/sessions/{running_sid}").json()["inputs"] == []
        # the new server can run probes on the old sessions
        again = http.post(
            f"/sessions/{running_sid}/jobs", json={"probe": "baselines", "setup": "quick"}
        ).json()
        assert wait_for_status(http, again["id"], {"done", "failed"})["status"] == "done"
    # the orphaned probe process noticed its server was gone (its stdin closed) and exited
    deadline = time.monotonic() + 30
    while job_processes(running["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_processes(running["id"]) == []


def test_a_graceful_stop_interrupts_running_probes_and_cuts_streams(spawn_server) -> None:
    srv = spawn_server(name="graceful")
    with srv.client() as http:
        sid = new_session(http, setup="slow")
        job = http.post(f"/sessions/{sid}/jobs", json={"probe": "baselines"}).json()
        wait_for_status(http, job["id"], {"running"})
        events: list[dict] = []
        ended = threading.Event()

        def follow() -> None:  # a client following the job when the server stops
            try:
                with http.stream("GET", f"/jobs/{job['id']}/events", timeout=httpx.Timeout(30, read=60)) as r:
                    for line in r.iter_lines():
                        if line.startswith("data:"):
                            events.append(json.loads(line[5:]))
            except httpx.TransportError:
                pass
            ended.set()

        threading.Thread(target=follow, daemon=True).start()
        while not any(e["kind"] == "progress" for e in events):  # its process is training
            time.sleep(0.05)
        assert job_processes(job["id"])
        srv.stop()  # SIGINT, as Ctrl+C would
        assert srv.proc is not None and srv.proc.returncode is not None
        assert ended.wait(30)
    srv.start()
    with srv.client() as http:
        stopped = http.get(f"/jobs/{job['id']}").json()
        assert stopped["status"] == "interrupted", stopped
    deadline = time.monotonic() + 30
    while job_processes(job["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_processes(job["id"]) == []
