"""Keras 3 on the torch backend with the callback: a tiny Sequential model on data made here. A
learning rate 4x above 2/lambda_max (exact Hessian formed here, in plain torch) is caught; the fit's
own losses are unchanged by watching."""

from __future__ import annotations

import os

import pytest

if os.environ.get("KERAS_BACKEND", "torch") != "torch":
    pytest.skip("Keras runs here on the torch backend only", allow_module_level=True)
os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras", reason="the keras extra is not installed")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from assistant.watch.keras import TraindocCallback  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = np.sin(x.sum(axis=1, keepdims=True)).astype("float32")
    return x, y


def model(lr: float, dropout: float = 0.0) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((4,)), keras.layers.Dense(8, activation="tanh")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    m = keras.Sequential([*layers, keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return m


def exact_lambda_max(m: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """From the Dense weights, the same network written in plain torch, and its exact Hessian."""
    (w1, b1), (w2, b2) = [[torch.tensor(np.asarray(v)) for v in layer.get_weights()] for layer in m.layers]
    shapes = [w1.shape, b1.shape, w2.shape, b2.shape]
    sizes = [t.numel() for t in (w1, b1, w2, b2)]
    xt, yt = torch.tensor(x).double(), torch.tensor(y).double()

    def loss(flat: torch.Tensor) -> torch.Tensor:
        a, b, c, d = (p.view(s) for p, s in zip(flat.split(sizes), shapes, strict=True))
        return ((torch.tanh(xt @ a + b) @ c + d - yt) ** 2).mean()

    flat = torch.cat([t.reshape(-1) for t in (w1, b1, w2, b2)]).double()
    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))[-1])


class Batches(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.means: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.means.append(float(logs["loss"]))


@pytest.mark.slow
def test_the_callback_does_not_change_the_fit(tmp_path) -> None:
    x, y = data()
    runs = []
    for watched in (False, True):
        m, record = model(0.05, dropout=0.3), Batches()
        cb = TraindocCallback(
            tmp_path / "w", held_batch=(x[:16], y[:16]), db_path=tmp_path / "s.db", curvature_every=3
        )
        history = m.fit(
            x,
            y,
            batch_size=16,
            epochs=4,
            validation_split=0.25,
            verbose=0,
            callbacks=[record, cb] if watched else [record],
        )
        runs.append((record.means, history.history["loss"], history.history["val_loss"]))
    assert runs[0] == runs[1]
    assert len(cb.report.sharpness) >= 3


@pytest.mark.slow
def test_a_learning_rate_four_times_the_limit_is_caught(tmp_path, capsys) -> None:
    x, y = data()
    m = model(1.0)
    lam = exact_lambda_max(m, x, y)
    m.optimizer.learning_rate.assign(4 * 2 / lam)  # full batch: gradient descent, limit 2 / lambda_max
    cb = TraindocCallback(tmp_path / "k", held_batch=(x, y), db_path=tmp_path / "s.db")
    m.fit(x, y, batch_size=64, epochs=20, verbose=0, callbacks=[cb])
    report = cb.report
    assert report.sharpness[0]["step"] == 0
    assert report.sharpness[0]["lambda_max"] == pytest.approx(lam, rel=1e-3)
    assert report.answers["learning_rate_exceeds_stability"] == "yes"
    assert "learning_rate_too_high" in report.findings
    out = capsys.readouterr().out  # printed the way Keras prints (io_utils.print_msg)
    assert out.count("above the stability threshold") == 1 and "traindoc: diagnosis:" in out
