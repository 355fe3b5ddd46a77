"""Points streamed to a real `traindoc serve` on loopback while a run trains: they arrive before the
run ends, in the order and with the values the run logged; a server killed mid-run costs points
(counted, said once), never the training."""

from __future__ import annotations

import logging
import math
import time

import pytest
import torch

from assistant.watch import watch
from tests.service.conftest import TOKEN, ServerProcess
from tests.watch.conftest import mlp, regression_data

MSE = torch.nn.MSELoss()


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path / "sessions.db").start(timeout=240)  # a loaded CI machine starts slowly
    yield srv
    srv.stop()


def _wait(predicate, timeout: float = 240.0) -> bool:  # a bound, not a pace: loaded CI
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _server_points(srv: ServerProcess, session_id: str) -> dict:
    with srv.client() as http:
        return http.get(f"/sessions/{session_id}/points", params={"limit": 50_000}).json()


def _train(tmp_path, srv: ServerProcess, steps: int, during=None):
    """Full-batch SGD; `during(run, step)` is called after every step (the test's eye on the server)."""
    model = mlp(5)
    x, y = regression_data(n=64, seed=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    options = {"output_dir": tmp_path / "w", "store": False, "curvature": False, "stream_every": 0.1}
    with watch(model, opt, MSE, server=srv.url, token=TOKEN, grad_norm_every=5, **options) as run:
        for step in range(1, steps + 1):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
            losses.append(loss.item())
            if step % 20 == 0:
                run.eval(loss.item() * 1.1)
            if during is not None:
                during(run, step)
    return run, losses


@pytest.mark.slow
def test_points_arrive_while_the_run_trains(tmp_path, server) -> None:
    seen: dict[str, int] = {}

    def during(run, step: int) -> None:
        if step == 100:  # the run is still training: wait until the service holds some of its points
            assert _wait(lambda: run.streamer.session_id is not None)
            sid = run.streamer.session_id
            assert _wait(lambda: _server_points(server, sid)["total"] > 0)
            seen["mid_run"] = _server_points(server, sid)["total"]
            assert not run.finished

    run, losses = _train(tmp_path, server, 200, during)
    report = run.report
    assert seen["mid_run"] > 0
    assert report.stream["points_dropped"] == 0 and report.stream["failures"] == 0
    assert report.server_session_id == report.stream["session_id"]  # the outcomes joined the stream's session
    body = _server_points(server, report.server_session_id)
    logged = sum(len(values) for _, _, values in run.live.curve_points())
    assert body["total"] == report.stream["points_sent"] == logged
    # what arrived is what the run logged: every training loss, at its step, with its value
    got = [(p["step"], p["value"]) for p in body["points"] if p["name"] == "loss"]
    assert got == [(float(i + 1), pytest.approx(v, rel=1e-6)) for i, v in enumerate(losses)]
    assert {p["name"] for p in body["points"]} == {"loss", "learning_rate", "grad_norm", "val_loss"}
    # bad input is a 4xx naming the field; the points go with their session
    with server.client() as http:
        bad = http.post(f"/sessions/{report.server_session_id}/points", json={"points": [{"name": "loss"}]})
        assert bad.status_code == 422 and "step" in bad.text
        assert http.get("/sessions/no-such-session/points").status_code == 404
        assert http.delete(f"/sessions/{report.server_session_id}").status_code == 204
        assert http.get(f"/sessions/{report.server_session_id}/points").status_code == 404


@pytest.mark.slow
def test_a_server_killed_mid_run_does_not_stop_training(tmp_path, server, caplog) -> None:
    """kill -9 of the server at step 60: the remaining steps train (the same losses as a run the test
    trains without any server, in plain torch), the lost points are counted, the failure said once."""

    def during(run, step: int) -> None:
        if step == 60:
            assert _wait(lambda: run.streamer.sent > 0)
            server.kill9()

    with caplog.at_level(logging.WARNING, logger="traindoc.watch"):
        run, losses = _train(tmp_path, server, 200, during)
    report = run.report
    model = mlp(5)
    x, y = regression_data(n=64, seed=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    plain = []
    for _ in range(200):
        loss = MSE(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        plain.append(loss.item())
    assert losses == plain and all(math.isfinite(v) for v in losses)
    assert report.steps == 200
    assert report.stream["points_sent"] > 0 and report.stream["points_dropped"] > 0
    logged = sum(len(values) for _, _, values in run.live.curve_points())
    assert report.stream["points_sent"] + report.stream["points_dropped"] == logged
    failed = [r.getMessage() for r in caplog.records if "streaming to" in r.getMessage()]
    assert len(failed) == 1 and "\n" not in failed[0] and "Traceback" not in failed[0]
    assert report.server_session_id is None and (tmp_path / "w" / "report.json").exists()


@pytest.mark.slow
def test_lambda_max_and_its_limit_are_streamed_for_the_team_view(tmp_path, server) -> None:
    """Each lambda_max measurement goes to the service as `lambda_max` (and the optimizer's limit as
    `stability_threshold`) at its step, the names the TUI's team view draws. Ground truth: the run's
    own sharpness series in its report (what the run measured, at which step)."""
    model = mlp(5)
    x, y = regression_data(n=64, seed=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    options = {"output_dir": tmp_path / "w", "store": False, "curvature_every": 40, "stream_every": 0.1}
    with watch(model, opt, MSE, server=server.url, token=TOKEN, held_batch=(x, y), **options) as run:
        for _ in range(120):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
    measured = [(float(s["step"]), s["lambda_max"], s["threshold"]) for s in run.report.sharpness]
    assert len(measured) >= 3  # step 0, the cadence, the end
    body = _server_points(server, run.report.server_session_id)
    got = [(p["step"], p["value"]) for p in body["points"] if p["name"] == "lambda_max"]
    limits = [(p["step"], p["value"]) for p in body["points"] if p["name"] == "stability_threshold"]
    assert got == [(step, pytest.approx(value, rel=1e-6)) for step, value, _ in measured]
    assert limits == [(step, pytest.approx(limit, rel=1e-6)) for step, _, limit in measured]
    assert all(limit == pytest.approx(2 / 0.05) for _, limit in limits)  # plain SGD: 2 / lr
