"""Probe jobs on a real server: real training in child processes, live progress, cancellation, and
probes that raise, hang, exhaust memory or die, each failing alone while the server keeps serving."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from assistant.client import TraindocClient
from assistant.errors import ServiceUnavailable
from tests.service.conftest import ServerProcess, job_processes, new_session, wait_for_status

pytestmark = pytest.mark.slow


def sse_events(http: httpx.Client, job_id: str) -> Iterator[dict]:
    with http.stream("GET", f"/jobs/{job_id}/events", timeout=httpx.Timeout(30, read=120)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        data: list[str] = []
        for line in r.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                yield json.loads("".join(data))
                data = []


def start(http: httpx.Client, sid: str, probe: str, **body) -> dict:
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": probe, **body})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["session_id"] == sid and len(job["id"]) >= 20
    return job


def test_a_probe_job_runs_and_its_outcome_lands_in_the_session(http: httpx.Client) -> None:
    sid = new_session(http, setup="quick")
    job = start(http, sid, "baselines")
    events = list(sse_events(http, job["id"]))
    assert events[-1]["kind"] == "done"
    done = events[-1]["job"]
    assert done["status"] == "done", done
    assert done["outcome"]["probe"] == "baselines"
    assert done["outcome"]["answers"]["train_loss_large"] in ("yes", "no", "unsure")
    assert done["started_at"] and done["finished_at"] >= done["started_at"]
    # already applied when "done" was sent: the answer carries the probe as source and its evidence
    answer = http.get(f"/sessions/{sid}").json()["report"]["answers"].get("train_loss_large")
    if done["outcome"]["answers"]["train_loss_large"] != "unsure":
        assert answer["source"] == "probe"
        assert answer["evidence"]["probe"] == "baselines" and answer["evidence"]["summary"]
    assert http.get(f"/jobs/{job['id']}").json() == done
    assert [j["id"] for j in http.get(f"/sessions/{sid}/jobs").json()] == [job["id"]]
    # a finished job cannot be cancelled, and following it again just gives its end
    assert http.post(f"/jobs/{job['id']}/cancel").status_code == 409
    again = list(sse_events(http, job["id"]))
    assert [e["kind"] for e in again] == ["done"] and again[0]["job"] == done


def test_progress_streams_while_the_probe_runs(http: httpx.Client) -> None:
    sid = new_session(http, setup="slow")
    job = start(http, sid, "baselines")
    seen_running_while_streaming = 0
    progress = 0
    kinds = []
    for event in sse_events(http, job["id"]):
        kinds.append(event["kind"])
        if event["kind"] == "progress":
            progress += 1
            assert event["progress"]["total"] > 0
            if progress in (1, 3):  # the job is still running when its progress reaches us
                state = http.get(f"/jobs/{job['id']}").json()
                assert state["status"] == "running"
                assert state["progress"] is not None
                seen_running_while_streaming += 1
    assert kinds[0] == "status" and kinds[-1] == "done"
    assert progress >= 5 and seen_running_while_streaming == 2


def test_cancel_a_running_probe(http: httpx.Client) -> None:
    sid = new_session(http, setup="slow")
    job = start(http, sid, "baselines")
    for event in sse_events(http, job["id"]):
        if event["kind"] == "progress":
            break
    cancelled = http.post(f"/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["outcome"] is None
    assert http.get(f"/sessions/{sid}").json()["inputs"] == []  # nothing applied
    assert job_processes(job["id"]) == []


def test_cancel_a_queued_probe(server: ServerProcess, http: httpx.Client) -> None:
    sid = new_session(http, setup="slow")
    first = start(http, sid, "baselines")
    second = start(http, sid, "baselines")
    assert http.get(f"/jobs/{second['id']}").json()["status"] == "queued"  # one worker: it waits
    assert http.post(f"/jobs/{second['id']}/cancel").json()["status"] == "cancelled"
    http.post(f"/jobs/{first['id']}/cancel")
    jobs = http.get(f"/sessions/{sid}/jobs").json()
    assert {j["status"] for j in jobs} == {"cancelled"}
    assert {j["error_code"] for j in jobs} == {"probe_cancelled"}  # docs/service.md, "Error codes"


@pytest.mark.parametrize(
    ("setup", "needle", "code"),
    [
        # not an error of ours (the user's optimizer raised): the generic probe failure
        ("raises", "ZeroDivisionError: the user's optimizer divided by zero", "probe_failed"),
        # SIGKILL without a word is what the kernel's out-of-memory killer sends
        ("dies", "died from signal SIGKILL", "out_of_memory"),
    ],
)
def test_a_probe_that_fails_fails_alone(http: httpx.Client, setup: str, needle: str, code: str) -> None:
    sid = new_session(http, setup=setup)
    job = start(http, sid, "baselines")
    # the server keeps answering while the job runs and fails
    other = new_session(http)
    r = http.post(f"/sessions/{other}/answers", json={"question": "train_loss_large", "value": "yes"})
    assert r.status_code == 200
    done = wait_for_status(http, job["id"], {"done", "failed", "cancelled"})
    assert done["status"] == "failed" and needle in done["error"] and "\n" not in done["error"]
    assert done["error_code"] == code
    assert http.get(f"/sessions/{sid}").json()["inputs"] == []
    assert http.get("/health").status_code == 200


def test_a_hanging_probe_is_killed_at_its_timeout_and_others_are_served(spawn_server) -> None:
    srv = spawn_server("--job-timeout", "4", "--queue", "1")
    with srv.client() as http:
        sid = new_session(http, setup="hangs")
        job = start(http, sid, "baselines")
        wait_for_status(http, job["id"], {"running"})
        queued = start(http, sid, "baselines")
        # the queue holds one: the next is refused with 429 and Retry-After
        r = http.post(f"/sessions/{sid}/jobs", json={"probe": "baselines"})
        assert (
            r.status_code == 429 and r.headers["retry-after"] and "too many" in r.json()["error"]["message"]
        )
        assert r.json()["error"]["code"] == "queue_full"
        # while the probe hangs, every other request is served
        answered = 0
        while http.get(f"/jobs/{job['id']}").json()["status"] == "running":
            other = new_session(http)
            r = http.post(f"/sessions/{other}/answers", json={"question": "train_loss_large", "value": "no"})
            assert r.status_code == 200
            answered += 1
        assert answered > 0
        failed = http.get(f"/jobs/{job['id']}").json()
        assert failed["status"] == "failed" and "timed out after 4 s" in failed["error"]
        assert failed["error_code"] == "job_timed_out"
        assert job_processes(job["id"]) == []  # killed, not left behind
        http.post(f"/jobs/{queued['id']}/cancel")


def test_a_probe_that_runs_out_of_memory_fails_alone(spawn_server) -> None:
    srv = spawn_server("--job-memory", "256")
    with srv.client() as http:
        sid = new_session(http, setup="hog")
        job = start(http, sid, "baselines")
        done = wait_for_status(http, job["id"], {"done", "failed"})
        assert done["status"] == "failed" and "ran out of memory" in done["error"], done
        assert done["error_code"] == "out_of_memory"  # what the TUI's advice is chosen by
        assert http.get("/health").json()["status"] == "ok"


def test_auto_walks_the_flowchart_and_records_every_measurement(http: httpx.Client) -> None:
    sid = new_session(http, setup="quick")
    job = start(http, sid, "auto")
    done = list(sse_events(http, job["id"]))[-1]["job"]
    assert done["status"] == "done", done
    assert done["outcome"]["probe"] == "auto" and done["outcome"]["data"]["probes"]
    session = http.get(f"/sessions/{sid}").json()
    measured = {q: a for q, a in session["report"]["answers"].items() if a["source"] == "probe"}
    assert measured and set(measured) <= set(done["outcome"]["answers"])
    for answer in measured.values():
        assert answer["evidence"]["probe"] in done["outcome"]["data"]["probes"]


def test_user_answers_given_while_a_probe_runs_win(http: httpx.Client) -> None:
    sid = new_session(http, setup="slow")
    job = start(http, sid, "baselines")
    wait_for_status(http, job["id"], {"running"})
    r = http.post(f"/sessions/{sid}/answers", json={"question": "train_loss_large", "value": "yes"})
    assert r.status_code == 200
    done = wait_for_status(http, job["id"], {"done", "failed"})
    assert done["status"] == "done", done
    report = http.get(f"/sessions/{sid}/report").json()
    assert report["answers"]["train_loss_large"]["value"] == "yes"
    assert report["answers"]["train_loss_large"]["source"] == "user"
    if done["outcome"]["answers"]["train_loss_large"] not in ("yes", "unsure"):
        assert any("your answer 'yes' was kept" in n for n in report["notes"])


def test_deleting_a_session_cancels_its_probe(http: httpx.Client) -> None:
    sid = new_session(http, setup="slow")
    job = start(http, sid, "baselines")
    while http.get(f"/jobs/{job['id']}").json()["progress"] is None:  # its process is training
        time.sleep(0.1)
    assert job_processes(job["id"])
    ends: list[dict] = []
    follower = threading.Thread(target=lambda: ends.extend(sse_events(http, job["id"])))
    follower.start()
    while not ends:
        time.sleep(0.05)
    assert http.delete(f"/sessions/{sid}").status_code == 204
    assert http.get(f"/jobs/{job['id']}").status_code == 404  # gone with its session, at once
    follower.join(60)
    assert ends[-1]["kind"] == "done" and ends[-1]["job"]["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while job_processes(job["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_processes(job["id"]) == []
    assert http.get("/health").status_code == 200


def test_the_client_maps_429(spawn_server) -> None:
    srv = spawn_server("--queue", "0")
    with TraindocClient(srv.url, token=srv.token) as client:
        sid = client.create_session(setup="quick").id
        with pytest.raises(ServiceUnavailable, match="too many probe jobs"):
            client.start_probe(sid, "baselines")


def test_many_followers_of_one_job_all_get_the_end(http: httpx.Client) -> None:
    sid = new_session(http, setup="quick")
    job = start(http, sid, "baselines")
    ends: list[dict] = []

    def follow() -> None:
        ends.append(list(sse_events(http, job["id"]))[-1])

    threads = [threading.Thread(target=follow) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(ends) == 5 and all(e["kind"] == "done" and e["job"]["status"] == "done" for e in ends)
