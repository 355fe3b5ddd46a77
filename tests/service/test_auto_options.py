"""The automatic diagnosis (`auto` job) takes the options the user set for the probes it runs
(issue 15: the TUI's `a` used to ignore the options form), per probe by name, each checked as that
probe's own options. A real `traindoc serve` on loopback running real trainings.

Ground truth: the options sent here. The depth ladder of a default run holds 2 seeds per depth
around the setup's own depth (the registry's default), so a ladder of exactly the depths sent, with
one loss per depth, can only come from the options reaching the probe.
"""

from __future__ import annotations

import httpx

from tests.service.conftest import new_session, wait_for_status
from tests.service.test_jobs import start


def test_auto_runs_the_depth_probe_with_the_options_given(http: httpx.Client) -> None:
    sid = new_session(http, setup="quick")
    r = http.post(f"/sessions/{sid}/answers", json={"question": "train_loss_large", "value": "yes"})
    assert r.status_code == 200  # so the walk's next measurement is the depth ladder
    job = start(http, sid, "auto", options={"depth": {"depths": "1,3", "seeds": 1}})
    done = wait_for_status(http, job["id"], {"done", "failed"}, timeout=300)
    assert done["status"] == "done", done
    assert "depth" in done["outcome"]["data"]["probes"]
    report = http.get(f"/sessions/{sid}/report").json()
    ladder = report["answers"]["deeper_model_worse"]["evidence"]["data"]["ladder"]
    assert {1, 3} <= {row["depth"] for row in ladder}
    assert all(len(row["losses"]) == 1 for row in ladder)  # seeds = 1, not the default 2


def test_bad_auto_options_are_refused_naming_the_field(http: httpx.Client) -> None:
    sid = new_session(http, setup="quick")
    cases = {
        "options.remedies": {"remedies": {"workers": 1}},  # not part of the walk
        "options.nosuch": {"nosuch": {}},
        "options.depth": {"depth": 3},  # per probe: an object of that probe's options
        "options.nope": {"depth": {"nope": 1}},
        "options.seeds": {"depth": {"seeds": 0}},
    }
    for field, options in cases.items():
        r = http.post(f"/sessions/{sid}/jobs", json={"probe": "auto", "options": options})
        assert r.status_code == 422, (options, r.status_code, r.text)
        error = r.json()["error"]
        assert error["field"] == field and "\n" not in error["message"], (options, error)
    assert http.get(f"/sessions/{sid}/jobs").json() == []  # nothing queued
