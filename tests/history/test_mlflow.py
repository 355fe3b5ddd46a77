"""MLflow over REST: a small server on 127.0.0.1 that answers as MLflow does (mlflow_stub.py), and a
real `mlflow server` where one is installed (TRAINDOC_TEST_MLFLOW=/path/to/mlflow, or `mlflow` on
PATH; the mlflow package is ~850 MB with its dependencies, so it is not a dev dependency)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time

import httpx
import pytest

from probes.base import ProbeError
from probes.history import history_outcome, load_history
from tests.history.conftest import curve
from tests.history.mlflow_stub import Store, free_port, serve


@pytest.fixture
def mlflow_stub():
    store = Store()
    with serve(store) as address:
        yield store, address


def test_paged_history_with_nan(mlflow_stub) -> None:
    store, address = mlflow_stub
    losses = curve(250, 2.3, 0.4)
    losses[200:] = [math.nan] * 50
    store.log("run1", "loss", losses)
    store.log("run1", "val_loss", curve(25, 2.2, 0.6), steps=list(range(9, 250, 10)))
    store.log("run1", "val_accuracy", [0.1 + i / 30 for i in range(25)], steps=list(range(9, 250, 10)))
    store.log("run1", "system/cpu_utilization_percentage", [50.0] * 5)
    h = load_history(f"mlflow://{address}/run1", page_size=100)
    names = {s.name: s for s in h.series}
    assert h.format == "mlflow"
    assert len(names["loss"].values) == 250 and all(math.isnan(v) for v in names["loss"].values[200:])
    assert names["val_loss"].steps[:2] == [9, 19]
    pages = [q for q in store.requests if q.get("metric_key") == "loss"]
    assert len(pages) == 3 and pages[1]["page_token"] and pages[0]["max_results"] == "100"
    o = history_outcome(f"mlflow://{address}/run1", page_size=100)
    assert o.answers["loss_diverged"] == "yes" and o.data["analysis"]["divergence"]["step"] == 200


def test_unknown_run_is_one_line(mlflow_stub) -> None:
    _, address = mlflow_stub
    with pytest.raises(ProbeError, match="MLflow run nope not found"):
        load_history(f"mlflow://{address}/nope")


def test_run_without_metrics(mlflow_stub) -> None:
    store, address = mlflow_stub
    store.runs["empty"] = {}
    with pytest.raises(ProbeError, match="no logged metrics"):
        load_history(f"mlflow://{address}/empty")


def test_unreachable_server_is_one_line() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ProbeError, match=f"cannot reach the MLflow server at http://127.0.0.1:{port}"):
        load_history(f"mlflow://127.0.0.1:{port}/abc", timeout=2)


def test_silent_server_times_out() -> None:
    # a socket that accepts connections (backlog) but never answers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ProbeError, match="did not answer in time"):
            load_history(f"mlflow://127.0.0.1:{port}/abc", timeout=1)
        assert time.monotonic() - started < 30


def test_bad_spec() -> None:
    with pytest.raises(ProbeError, match="expected mlflow://HOST:PORT/RUN_ID"):
        load_history("mlflow://127.0.0.1:5000/")


# -- a real MLflow server -----------------------------------------------------------------------------


def _mlflow_binary() -> str | None:
    return os.environ.get("TRAINDOC_TEST_MLFLOW") or shutil.which("mlflow")


@pytest.fixture
def real_mlflow(tmp_path):
    binary = _mlflow_binary()
    if not binary:
        pytest.skip("no mlflow server installed (set TRAINDOC_TEST_MLFLOW=/path/to/mlflow)")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the server starts helper processes: stop its whole group
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core CI machine starts mlflow slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start in 300 s")
        yield base, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_real_mlflow_server(real_mlflow) -> None:
    base, port = real_mlflow
    api = f"{base}/api/2.0/mlflow"
    # the test's own logging calls: MLflow answers a write in milliseconds on a quiet machine but took
    # over httpx's default 5 s on a loaded 2-core one (the reader's own timeout is tested above)
    http = httpx.Client(timeout=120)
    experiment = http.post(f"{api}/experiments/create", json={"name": "traindoc-test"}).json()[
        "experiment_id"
    ]

    def logged_run(metrics: list[dict]) -> str:
        run_id = http.post(f"{api}/runs/create", json={"experiment_id": experiment, "start_time": 0}).json()[
            "run"
        ]["info"]["run_id"]
        for start in range(0, len(metrics), 100):  # log-batch takes at most 1000 metrics
            r = http.post(
                f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": metrics[start : start + 100]}
            )
            assert r.status_code == 200, r.text
        return run_id

    train = curve(120, 2.3, 0.1)
    # Ground truth by construction: the validation loss is lowest at epoch 3 (0.7) and then climbs to
    # 1.2 while the training loss keeps falling to ~0.12: a textbook overfitting run.
    val = [2.2, 1.2, 0.8, 0.7, 0.75, 0.85, 1.0, 1.2]
    metrics = [{"key": "train_loss", "value": v, "timestamp": i, "step": i} for i, v in enumerate(train)]
    metrics += [
        {"key": "val_loss", "value": v, "timestamp": i, "step": 15 * i + 14} for i, v in enumerate(val)
    ]
    clean = logged_run(metrics)
    o = history_outcome(f"mlflow://127.0.0.1:{port}/{clean}", page_size=50, timeout=120)
    assert o.answers["val_loss_large"] == "yes"
    assert o.data["analysis"]["held_out"][0]["best_step"] == 15 * 3 + 14

    # The same run whose last validation point is NaN (MLflow's REST API takes the string "NaN"): the
    # reader keeps the point, and the model at the end of the run has no usable held-out loss, so the
    # question is left open with that reason rather than judged on a value that is not the run's end.
    broken = logged_run(metrics + [{"key": "val_loss", "value": "NaN", "timestamp": 99, "step": 200}])
    h = load_history(f"mlflow://127.0.0.1:{port}/{broken}", page_size=50, timeout=120)
    names = {s.name: s for s in h.series}
    assert len(names["train_loss"].values) == 120
    assert names["val_loss"].values[:8] == pytest.approx(val) and math.isnan(names["val_loss"].values[8])
    o = history_outcome(f"mlflow://127.0.0.1:{port}/{broken}", page_size=50, timeout=120)
    assert "val_loss_large" not in o.answers
    assert any(r.startswith("val_loss_large: left open: val_loss ends in NaN/inf") for r in o.rules)
    http.close()
    with pytest.raises(ProbeError, match="not found"):
        load_history(f"mlflow://127.0.0.1:{port}/0123456789abcdef0123456789abcdef", timeout=120)


def test_metrics_logged_without_steps_are_ordered_by_time(mlflow_stub) -> None:
    store, address = mlflow_stub
    store.log("nosteps", "loss", [3.0, 2.0, 1.0, 0.5], steps=[0, 0, 0, 0])
    loss = load_history(f"mlflow://{address}/nosteps").series[0]
    assert (loss.x, loss.steps, loss.values) == ("index", [0, 1, 2, 3], [3.0, 2.0, 1.0, 0.5])
