"""A watched run streamed to a real `traindoc serve` on loopback: its session holds the run's answers
with their evidence; a bad token or a dead server leaves the report on disk and says so in one line."""

from __future__ import annotations

import logging

import pytest
import torch

from assistant.watch import watch
from tests.service.conftest import TOKEN, ServerProcess
from tests.watch.conftest import mlp, regression_data

MSE = torch.nn.MSELoss()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServerProcess(tmp_path_factory.mktemp("watch-service") / "sessions.db").start()
    yield srv
    srv.stop()


def _run(tmp_path, **options):
    model = mlp(5)
    x, y = regression_data(n=64, seed=5)
    opt = torch.optim.SGD(model.parameters(), lr=2.0)  # far above 2/lambda_max for this model
    with watch(model, opt, MSE, held_batch=(x, y), output_dir=tmp_path / "w", store=False, **options) as run:
        for _ in range(20):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
    return run.report


@pytest.mark.slow
def test_the_run_arrives_as_a_session_on_the_service(tmp_path, server) -> None:
    report = _run(tmp_path, server=server.url, token=TOKEN)
    assert report.server_session_id and report.session_id is None
    with server.client() as http:
        body = http.get(f"/sessions/{report.server_session_id}").json()
    answers = body["report"]["answers"] | body["report"]["inactive_answers"]
    assert (
        answers["learning_rate_exceeds_stability"]["value"]
        == report.answers["learning_rate_exceeds_stability"]
    )
    assert answers["learning_rate_exceeds_stability"]["evidence"]["probe"] == "watch"
    assert answers["loss_diverged"]["source"] == "history"
    assert [f["id"] for f in body["report"]["findings"]] == report.findings


@pytest.mark.slow
def test_a_refused_upload_keeps_the_report_and_says_why(tmp_path, server, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="traindoc.watch"):
        report = _run(tmp_path, server=server.url, token="wrong-token")
    assert report.server_session_id is None
    assert (tmp_path / "w" / "report.json").exists()
    lines = [r.getMessage() for r in caplog.records if "was not sent" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "Traceback" not in lines[0]
