"""The remedies as a probe job on a real server (uvicorn on loopback, child-process workers):
progress while it runs, the report in the job's outcome, cancel, and a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import ServerProcess, job_processes, new_session, wait_for_status
from tests.service.test_jobs import sse_events, start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("remedies") / "sessions.db"
    srv = ServerProcess(
        db,
        "--job-timeout",
        "300",
        "--setup",
        "saddle=demo:saddle_point",
        "--setup",
        "overfit=demo:overfitting",
    ).start()
    try:
        with srv.client() as client:
            yield client
    finally:
        srv.stop()


def test_a_remedies_job_reports_progress_and_the_measured_remedies(http: httpx.Client) -> None:
    sid = new_session(http, setup="saddle")
    job = start(http, sid, "remedies", options={"findings": "saddle_point"})
    events = list(sse_events(http, job["id"]))
    assert any(e["kind"] == "progress" for e in events)
    done = events[-1]["job"]
    assert done["status"] == "done", done
    data = done["outcome"]["data"]
    assert data["findings"] == ["saddle_point"] and data["metric"] == "train"
    escape = next(r for r in data["remedies"] if r["id"] == "escape_step")
    # closed form: L(0, 0) = 1, and the minimum of (1 - w1 w2)^2 is 0
    assert escape["status"] == "helps" and escape["before"]["train"] == pytest.approx(1.0)
    assert escape["after"]["train"] < 1e-3
    assert done["outcome"]["answers"] == {}  # remedies answer no flowchart question


def test_cancel_a_running_remedies_job(http: httpx.Client) -> None:
    sid = new_session(http, setup="overfit")
    job = start(http, sid, "remedies", options={"findings": "overfitting"})
    for event in sse_events(http, job["id"]):
        if event["kind"] == "progress":
            break
    cancelled = http.post(f"/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["outcome"] is None
    assert job_processes(job["id"]) == []


def test_bad_options_are_a_4xx_naming_the_field(http: httpx.Client) -> None:
    sid = new_session(http, setup="saddle")
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "remedies", "options": {"finding": "x"}})
    assert 400 <= r.status_code < 500 and "options.finding" in r.text
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": "remedies", "options": {"workers": "many"}})
    assert 400 <= r.status_code < 500 and "options.workers" in r.text


def test_a_job_without_findings_fails_with_one_clear_line(http: httpx.Client) -> None:
    sid = new_session(http, setup="saddle")
    job = start(http, sid, "remedies")
    done = wait_for_status(http, job["id"], {"done", "failed", "cancelled"})
    assert done["status"] == "failed"
    assert "findings" in done["error"] and "Traceback" not in done["error"]
