"""Lightning with the callback: a tiny LightningModule on data made here. A learning rate 4x above
2/lambda_max (exact Hessian formed here) is caught; the run's losses are unchanged by watching."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

pytest.importorskip("lightning", reason="the lightning extra is not installed")

import lightning.pytorch as pl  # noqa: E402

from assistant.watch.lightning import TraindocCallback  # noqa: E402
from tests.watch.conftest import exact_hessian_eigenvalues, mlp, regression_data  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*GPU available but not used.*"),
    pytest.mark.filterwarnings("ignore:.*number of training batches.*"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),  # lightning 2.6 on torch 2.13
]
MSE = nn.MSELoss()


class Regressor(pl.LightningModule):
    def __init__(self, lr: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.net, self.lr = mlp(5, dropout=dropout), lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = MSE(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", MSE(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class Losses(pl.Callback):
    """The run's own record: every training loss, as Lightning hands it over."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.values.append(outputs["loss"].item())


def fit(
    module: pl.LightningModule, batch_size: int, epochs: int, callbacks: list, tmp_path, val: bool = True
) -> list[float]:
    pl.seed_everything(0, verbose=False)
    x, y = regression_data(n=64, seed=5)
    data = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)
    validate, val = val, torch.utils.data.DataLoader(data, batch_size=64)
    losses = Losses()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[losses, *callbacks],
    )
    trainer.fit(module, train, val if validate else None)
    return losses.values


@pytest.mark.slow
def test_the_callback_does_not_change_the_run(tmp_path) -> None:
    plain = fit(Regressor(0.05, dropout=0.3), 16, 4, [], tmp_path / "a")
    cb = TraindocCallback(db_path=tmp_path / "s.db", curvature_every=3)
    watched = fit(Regressor(0.05, dropout=0.3), 16, 4, [cb], tmp_path / "b")
    assert watched == plain and len(plain) == 16
    assert len(cb.report.sharpness) >= 5
    assert [a["kind"] for a in cb.report.alerts if a["kind"] == "edge_of_stability"] == []


@pytest.mark.slow
def test_a_learning_rate_four_times_the_limit_is_caught(tmp_path, caplog) -> None:
    x, y = regression_data(n=64, seed=5)
    module = Regressor(1.0)
    lam = float(exact_hessian_eigenvalues(module.net, lambda f: MSE(f(x), y))[-1])
    module.lr = 4 * 2 / lam  # full batch: gradient descent, where 2 / lambda_max is the limit
    cb = TraindocCallback(db_path=tmp_path / "s.db")
    with caplog.at_level("INFO", logger="lightning.pytorch"):
        fit(module, 64, 20, [cb], tmp_path)
    report = cb.report
    assert report.sharpness[0]["step"] == 0
    assert report.sharpness[0]["lambda_max"] == pytest.approx(lam, rel=1e-3)
    assert report.answers["learning_rate_exceeds_stability"] == "yes"
    assert "learning_rate_too_high" in report.findings
    assert caplog.text.count("above the stability threshold") == 1
    assert (tmp_path / "traindoc" / "report.md").exists()


class AlertSeen(pl.Callback):
    """After the watch's callback: the run's own step when its NaN alert was first raised."""

    def __init__(self, watch: TraindocCallback) -> None:
        self.watch, self.at = watch, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.at is None and any(a.kind == "diverged" for a in self.watch.run.alerts):
            self.at = trainer.global_step


@pytest.mark.filterwarnings("ignore:.*no `val_dataloader`.*")
def test_batched_feeding_gives_the_points_and_alerts_of_per_step_feeding(tmp_path) -> None:
    """`sync_every=1` feeds each step at once (the callback's behaviour before batching); the default
    feeds 16 together. Full-batch gradient descent at lr 30 blows the MLP up (inf at step 10 by the
    run's own record, checked below; no validation, whose analysis would name the blow-up first): the same history point for point (epochs included) and the same
    alerts; the NaN alert names the run's first non-finite loss and the learning rate, raised at that
    step per step and at the end of its batch (step 16) batched."""
    runs = []
    for sync in (1, None):
        cb = TraindocCallback(store=False, curvature=False, sync_every=sync)
        seen = AlertSeen(cb)
        losses = fit(Regressor(30.0), 64, 24, [cb, seen], tmp_path / f"r{sync}", val=False)
        points = [
            (n, s, [v if math.isfinite(v) else None for v in vs]) for n, s, vs in cb.run.live.curve_points()
        ]
        alerts = [(a["kind"], a["step"], a["message"]) for a in cb.report.alerts]
        runs.append(([v if math.isfinite(v) else None for v in losses], points, alerts, seen.at))
    (losses, points, alerts, at_once), (*batched, at_batched) = runs
    assert batched == [losses, points, alerts]
    first_bad = losses.index(None) + 1
    assert 1 < first_bad < 16  # inside the first batch of 16 (the construction, checked)
    nan = next(a for a in alerts if a[0] == "diverged")
    assert nan[1] == first_bad and "learning rate 30" in nan[2]
    assert (at_once, at_batched) == (first_bad, 16)
    assert cb.run.live.history().series[0].epochs is not None  # epochs fed with the batch
