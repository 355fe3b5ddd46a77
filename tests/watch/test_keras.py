"""Keras 3 on the torch backend with the callback: a tiny Sequential model on data made here. A
learning rate 4x above 2/lambda_max (exact Hessian formed here, in plain torch) is caught; the fit's
own losses are unchanged by watching."""

from __future__ import annotations

import math
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


# -- Adam / AdamW / RMSprop: the preconditioned threshold from Keras's own variables ------------------


def adaptive(name: str, lr: float) -> keras.Model:
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    opt = {
        "Adam": lambda: keras.optimizers.Adam(learning_rate=lr, beta_2=0.9),
        "AdamW": lambda: keras.optimizers.AdamW(learning_rate=lr, beta_2=0.9, weight_decay=0.0),
        "RMSprop": lambda: keras.optimizers.RMSprop(learning_rate=lr),
    }[name]()
    m.compile(optimizer=opt, loss="mse")
    return m


def d_squared(m: keras.Model) -> list[torch.Tensor]:
    """1 / P per variable, written here from the update rules in Keras's source (not from the code
    under test): Adam theta -= lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt(v)+eps); RMSprop theta -= lr g/sqrt(v+eps)."""
    opt, t = m.optimizer, int(m.optimizer.iterations.numpy())
    out = []
    for var in m.trainable_variables:
        v = torch.tensor(
            np.asarray(opt._velocities[opt._get_variable_index(var)].numpy()), dtype=torch.float64
        )
        if type(opt).__name__ == "RMSprop":
            out.append(1 / torch.sqrt(v + opt.epsilon))
        else:
            b1, b2 = opt.beta_1, opt.beta_2
            out.append(np.sqrt(1 - b2**t) / ((1 - b1**t) * (torch.sqrt(v) + opt.epsilon)))
    return out


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop"])
def test_the_preconditioner_is_the_step_keras_takes(name: str) -> None:
    """One more optimizer step taken by Keras itself: its change of every weight equals -lr P^-1 m
    (Adam: the first moment after the step; RMSprop: the gradient), with P read by keras_scaling."""
    from assistant.watch.keras import keras_scaling

    x, y = data()
    m = adaptive(name, 0.01)
    m.fit(x, y, batch_size=64, epochs=3, verbose=0)
    opt = m.optimizer
    before = [torch.tensor(np.asarray(v.numpy())) for v in m.trainable_variables]
    xt, yt = torch.tensor(x), torch.tensor(y)
    params = [v.value for v in m.trainable_variables]
    loss = ((m(xt, training=False) - yt) ** 2).mean()
    grads = torch.autograd.grad(loss, params)
    opt.apply([g.detach() for g in grads], m.trainable_variables)
    scales = keras_scaling(m, params)
    assert scales is not None
    for i, var in enumerate(m.trainable_variables):
        step = torch.tensor(np.asarray(var.numpy())) - before[i]
        moved = opt._momentums[opt._get_variable_index(var)].value.detach() if name != "RMSprop" else grads[i]
        expected = -0.01 * moved * scales[i] ** 2
        assert torch.allclose(step, expected, rtol=1e-3, atol=1e-7)
        assert torch.allclose(scales[i].double() ** 2, d_squared(m)[i], rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "lr", "verdict"), [("Adam", 0.002, "no"), ("Adam", 0.3, "no"), ("RMSprop", 0.3, "yes")]
)
def test_adaptive_optimizers_are_judged_on_the_exact_preconditioned_sharpness(
    tmp_path, name, lr, verdict
) -> None:
    """The callback's last preconditioned lambda_max against the exact one: the Hessian formed here in
    plain torch, D from d_squared, eigvalsh of D H D; the verdict follows the exact ratio (measured
    once: Adam 0.04x and 0.63x of 38/lr at the end, RMSprop at lr 0.3 1.5x of 2/lr)."""
    x, y = data()
    m = adaptive(name, lr)
    cb = TraindocCallback(tmp_path / "k", held_batch=(x, y), db_path=tmp_path / "s.db", curvature_every=5)
    m.fit(x, y, batch_size=64, epochs=30, verbose=0, callbacks=[cb])
    last = cb.report.sharpness[-1]
    assert last["preconditioned"] and last["step"] == 30
    (w1, b1), (w2, b2) = [[torch.tensor(np.asarray(v)) for v in layer.get_weights()] for layer in m.layers]
    shapes = [t.shape for t in (w1, b1, w2, b2)]
    sizes = [t.numel() for t in (w1, b1, w2, b2)]
    xt, yt = torch.tensor(x).double(), torch.tensor(y).double()

    def loss(flat: torch.Tensor) -> torch.Tensor:
        a, b, c, d = (p.view(s) for p, s in zip(flat.split(sizes), shapes, strict=True))
        return ((torch.tanh(xt @ a + b) @ c + d - yt) ** 2).mean()

    flat = torch.cat([t.reshape(-1) for t in (w1, b1, w2, b2)]).double()
    h = torch.autograd.functional.hessian(loss, flat)
    d = torch.cat([s.reshape(-1) for s in d_squared(m)]).sqrt()
    exact = float(torch.linalg.eigvalsh(d[:, None] * h * d[None, :])[-1])
    threshold = 2 / lr if name == "RMSprop" else (2 + 2 * 0.9) / (0.1 * lr)
    assert last["threshold"] == pytest.approx(threshold)
    assert last["lambda_max"] == pytest.approx(exact, rel=2e-2)
    answer = cb.report.answers["learning_rate_exceeds_stability"]
    peak = max(s["ratio"] for s in cb.report.sharpness if s["step"] >= 10)
    if verdict == "yes":
        assert exact / threshold >= 1.2 and answer == "yes"
    else:
        assert exact / threshold < 0.95 and peak < 0.95 and answer == "no"


class AlertSeen(keras.callbacks.Callback):
    """After the watch's callback: the batch count when its NaN alert was first raised."""

    def __init__(self, watch: TraindocCallback) -> None:
        super().__init__()
        self.watch, self.batches, self.at = watch, 0, None

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.batches += 1
        if self.at is None and any(a.kind == "diverged" for a in self.watch.run.alerts):
            self.at = self.batches


@pytest.mark.slow
def test_batched_feeding_gives_the_points_and_alerts_of_per_step_feeding(tmp_path) -> None:
    """`sync_every=1` feeds each batch at once (the callback's behaviour before batching); the default
    feeds 16 together. Full-batch gradient descent at lr 30 blows the model up (the first non-finite
    loss by Keras's own per-batch logs, checked below): the same history point for point and the same
    alerts; the NaN alert names that step and the learning rate, raised at it per step and at the end
    of its batch (step 16) batched."""
    x, y = data()
    runs = []
    for sync in (1, None):
        m, record = model(30.0), Batches()
        cb = TraindocCallback(tmp_path / f"w{sync}", store=False, curvature=False, sync_every=sync, verbose=0)
        seen = AlertSeen(cb)
        m.fit(x, y, batch_size=64, epochs=24, verbose=0, callbacks=[record, cb, seen])
        points = [
            (n, s, [v if math.isfinite(v) else None for v in vs]) for n, s, vs in cb.run.live.curve_points()
        ]
        alerts = [(a["kind"], a["step"], a["message"]) for a in cb.report.alerts]
        runs.append(([v if math.isfinite(v) else None for v in record.means], points, alerts, seen.at))
    (losses, points, alerts, at_once), (*batched, at_batched) = runs
    assert batched == [losses, points, alerts]
    first_bad = losses.index(None) + 1  # one batch an epoch: Keras's mean is the batch's loss
    assert 1 < first_bad < 16  # inside the first batch of 16 (the construction, checked)
    nan = next(a for a in alerts if a[0] == "diverged")
    assert nan[1] == first_bad and "learning rate 30" in nan[2]
    assert (at_once, at_batched) == (first_bad, 16)
