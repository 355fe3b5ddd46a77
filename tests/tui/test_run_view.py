"""The team view (issue 16): a run watched with `watch(..., server=URL)` streams its points to a real
`traindoc serve`; the TUI opened on that session (`--resume ID --server URL`) draws them, and the
curves grow while the run trains.

Ground truth: the losses are the ones the test's own plain-PyTorch loop computed (`loss.item()`), and
the held-out values the ones it passed to `run.eval`; the run pauses at step 100 on an event the test
holds, so "while it trains" is a fact of the test, not a race.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from assistant.client import TraindocClient
from assistant.watch import watch
from tests.service.conftest import TOKEN, ServerProcess
from tests.tui.conftest import ready, wait_for
from tests.watch.conftest import mlp, regression_data
from tui import TraindocApp
from tui.screens.run_view import RunView
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.run_curves import RunCurves, group_curves

MSE = torch.nn.MSELoss()
PAUSE_AT, STEPS = 100, 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # one server for the module (each test makes its own session): starting one costs seconds
    db = tmp_path_factory.mktemp("run-view") / "sessions.db"
    srv = ServerProcess(db).start(timeout=240)  # a loaded CI machine starts slowly
    yield srv
    srv.stop()


@pytest.fixture
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunView, "poll_every", 0.1)


class WatchedRun(threading.Thread):
    """Full-batch SGD on a tiny MLP, watched with server=; stops at PAUSE_AT until `go` is set."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        super().__init__(daemon=True)
        self.tmp_path, self.url = tmp_path, url
        self.go = threading.Event()
        self.losses: list[float] = []
        self.held_out: list[tuple[int, float]] = []
        self.session_id: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._train()
        except BaseException as exc:  # said by the test, not lost in the thread
            self.error = exc

    def _train(self) -> None:
        model = mlp(5)
        x, y = regression_data(n=64, seed=5)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        options = {"output_dir": self.tmp_path / "w", "store": False, "curvature": False, "stream_every": 0.1}
        with watch(model, opt, MSE, server=self.url, token=TOKEN, **options) as run:
            for step in range(1, STEPS + 1):
                loss = MSE(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                run.step(loss)
                self.losses.append(loss.item())
                if step % 20 == 0:
                    self.held_out.append((step, loss.item() * 1.1))
                    run.eval(loss.item() * 1.1)
                if step == PAUSE_AT:
                    while run.streamer is not None and run.streamer.session_id is None:
                        time.sleep(0.05)  # the stream's first request creates the session
                    self.session_id = run.streamer.session_id if run.streamer else None
                    assert self.go.wait(600), "the test never let the run go on"


def _server_total(client: TraindocClient, session_id: str) -> int:
    return client.points(session_id, limit=1).total


def _losses_drawn(app: TraindocApp) -> list[tuple[float, float]]:
    return app.screen.query_one(RunCurves).curves.get("loss", [])


@pytest.mark.slow
async def test_a_watched_runs_curves_are_drawn_and_grow_while_it_trains(
    tmp_path: Path, server: ServerProcess, make_app: Callable[..., TraindocApp], fast_poll: None
) -> None:
    run = WatchedRun(tmp_path, server.url)
    run.start()
    client = TraindocClient(server.url, token=TOKEN)
    try:
        deadline = time.monotonic() + 240
        # the run is held at step 100: wait until the service has its first 100 losses (with the
        # learning rate at each step, and 5 held-out points: 205 points)
        while run.session_id is None or _server_total(client, run.session_id) < 2 * PAUSE_AT + PAUSE_AT // 20:
            assert run.error is None and time.monotonic() < deadline, run.error or "no points on the server"
            time.sleep(0.05)
        app = make_app(client=client, session_id=run.session_id)
        async with app.run_test(size=(110, 45)) as pilot:
            await ready(pilot)
            assert app.chat.session is not None and app.chat.session.id == run.session_id
            view = app.screen.query_one(RunCurves)
            await wait_for(pilot, lambda: len(_losses_drawn(app)) == PAUSE_AT, what="the first 100 losses")
            assert view.display
            expected = [(float(i + 1), pytest.approx(v, rel=1e-6)) for i, v in enumerate(run.losses)]
            assert _losses_drawn(app) == expected[:PAUSE_AT]
            run.go.set()  # training goes on; the view must follow it
            await wait_for(pilot, lambda: len(_losses_drawn(app)) == STEPS, 240, "the curve to grow to 200")
            run.join(60)
            assert run.error is None
            assert _losses_drawn(app) == [
                (float(i + 1), pytest.approx(v, rel=1e-6)) for i, v in enumerate(run.losses)
            ]
            await wait_for(
                pilot, lambda: len(view.curves.get("val_loss", [])) == len(run.held_out), what="val"
            )
            assert view.curves["val_loss"] == [
                (float(s), pytest.approx(v, rel=1e-6)) for s, v in run.held_out
            ]
            losses_plot = view.query_one("#run-losses", CurvePlot)
            assert list(losses_plot.curves) == ["loss", "val_loss"]  # the learning rate is not a loss
            assert not view.query_one("#run-sharpness", CurvePlot).display  # this run sent no lambda_max
    finally:
        run.go.set()
        client.close()


async def test_lambda_max_is_drawn_against_the_stability_limit(
    server: ServerProcess, make_app: Callable[..., TraindocApp], fast_poll: None
) -> None:
    """What a run sends as lambda_max and stability_threshold is drawn in its own plot, beside the
    losses (here sent through the client: SGD at lr 0.1, limit 2/lr = 20, lambda_max crossing it)."""
    client = TraindocClient(server.url, token=TOKEN)
    try:
        session = client.create_session()
        sharp = [(float(s), 12.0 + 2.0 * s) for s in range(0, 10)]  # 12 ... 30: crosses 20 at step 4
        points = [("loss", float(s), 1.0 / (s + 1)) for s in range(10)]
        points += [("lambda_max", s, v) for s, v in sharp] + [
            ("stability_threshold", s, 20.0) for s, _ in sharp
        ]
        client.append_points(session.id, points)
        app = make_app(client=client, session_id=session.id)
        async with app.run_test(size=(110, 45)) as pilot:
            await ready(pilot)
            view = app.screen.query_one(RunCurves)
            await wait_for(pilot, lambda: view.total == 30, what="the streamed points")
            plot = view.query_one("#run-sharpness", CurvePlot)
            assert plot.display
            assert plot.curves == {"lambda_max": sharp, "stability_threshold": [(s, 20.0) for s, _ in sharp]}
            assert list(view.query_one("#run-losses", CurvePlot).curves) == ["loss"]
    finally:
        client.close()


async def test_a_session_without_streamed_points_shows_no_run_view(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        # one request said "no points": the poller ended, nothing is drawn
        await wait_for(
            pilot,
            lambda: not [w for w in app.workers if w.group == "points" and w.is_running],
            what="the poller",
        )
        assert not app.screen.query_one(RunCurves).display


def test_losses_and_sharpness_are_grouped_apart() -> None:
    curves = {
        "val_loss": [(1.0, 2.0)],
        "learning_rate": [(1.0, 0.1)],
        "loss": [(1.0, 3.0)],
        "grad_norm": [(1.0, 5.0)],
        "stability_threshold": [(1.0, 20.0)],
        "lambda_max": [(1.0, 10.0)],
        "test_loss": [(1.0, 2.5)],
    }
    losses, sharpness = group_curves(curves)
    assert list(losses) == ["loss", "test_loss", "val_loss"]  # the training loss first, then by name
    assert list(sharpness) == ["lambda_max", "stability_threshold"]
    assert group_curves({"learning_rate": [(0.0, 1.0)]}) == ({}, {})
