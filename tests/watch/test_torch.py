"""Plain PyTorch: the live curvature against brute-force Hessians, the run untouched by watching, and
known diagnoses reached on real training (learning rate above a limit computed here; overfitting)."""

from __future__ import annotations

import logging
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from assistant.store import Store
from assistant.watch import watch
from probes.live import end_point, isolated, sharpness
from tests.conftest import run_cli
from tests.watch.conftest import exact_hessian_eigenvalues, mlp, regression_data

MSE = nn.MSELoss()


def _loss_on(x: torch.Tensor, y: torch.Tensor):
    return lambda forward: MSE(forward(x), y)


@pytest.mark.parametrize("seed", range(3))
def test_sgd_sharpness_matches_the_exact_hessian(seed: int) -> None:
    model = mlp(seed)
    x, y = regression_data(seed=seed)
    exact = exact_hessian_eigenvalues(model, _loss_on(x, y))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    s = sharpness(model, lambda: MSE(model(x), y), opt, step=0, max_hvp=60, tolerance=1e-6)
    assert s is not None and s.converged
    assert s.lambda_max == pytest.approx(float(exact[-1]), rel=1e-4)
    # heavy-ball momentum 0.9: lr < 2 (1 + 0.9) / lambda, i.e. lambda* = 3.8 / lr (probes.stability)
    assert s.threshold == pytest.approx(3.8 / 0.1)
    assert s.exceeds is (float(exact[-1]) > 38.0)


def test_adam_preconditioned_sharpness_matches_brute_force() -> None:
    """lambda_max(P^-1 H) with P = (1 - b1^t) diag(sqrt(v_hat) + eps), written out here from Adam's state."""
    model = mlp(3)
    x, y = regression_data(seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        MSE(model(x), y).backward()
        opt.step()
    opt.zero_grad()
    b1, b2 = opt.defaults["betas"]
    p_diag = []
    for p in model.parameters():
        st = opt.state[p]
        t = float(st["step"])
        p_diag.append(
            ((1 - b1**t) * ((st["exp_avg_sq"] / (1 - b2**t)).sqrt() + opt.defaults["eps"])).reshape(-1)
        )
    d = torch.cat(p_diag).double().rsqrt()
    params = list(model.parameters())
    h = torch.autograd.functional.hessian(
        lambda flat: MSE(
            torch.func.functional_call(
                model,
                {
                    n: piece.view_as(p).float()
                    for (n, p), piece in zip(
                        model.named_parameters(), flat.split([q.numel() for q in params]), strict=True
                    )
                },
                (x,),
            ),
            y,
        ),
        torch.cat([p.detach().reshape(-1) for p in params]).double(),
    )
    expected = float(torch.linalg.eigvalsh(d[:, None] * h * d[None, :]).max())
    s = sharpness(model, lambda: MSE(model(x), y), opt, step=5, max_hvp=80, tolerance=1e-6)
    assert s is not None and s.preconditioned and s.kind == "adam"
    assert s.lambda_max == pytest.approx(expected, rel=1e-3)
    assert s.threshold == pytest.approx((2 + 2 * 0.9) / (0.1 * 1e-2))  # 38 / lr (Cohen et al. 2022)


@pytest.mark.parametrize("seed", range(3))
def test_step_zero_stops_once_clearly_below_half_the_threshold(seed: int) -> None:
    """Plain SGD, threshold 2/lr with lambda_max from the exact Hessian (eigvalsh here). At lr = 0.1 x
    2/lambda_max the threshold is 10 lambda_max: the step-0 measurement (`settle_below=0.5`) stops at
    Lanczos's first check, 3 products, with a lower bound of the exact value and no verdict; at 4x the
    limit it runs on to 1% and says "exceeds", as before."""
    model = mlp(seed)
    x, y = regression_data(seed=seed)
    exact = float(exact_hessian_eigenvalues(model, _loss_on(x, y))[-1])
    low = sharpness(
        model,
        lambda: MSE(model(x), y),
        torch.optim.SGD(model.parameters(), lr=0.1 * 2 / exact),
        step=0,
        max_hvp=10,
        settle_below=0.5,
    )
    assert low is not None and low.settled == "well below the threshold" and low.hvp == 3
    assert low.lambda_max <= exact * (1 + 1e-6) and low.threshold == pytest.approx(10 * exact)
    assert low.exceeds is None and not low.converged
    high = sharpness(
        model,
        lambda: MSE(model(x), y),
        torch.optim.SGD(model.parameters(), lr=4 * 2 / exact),
        step=0,
        max_hvp=10,
        settle_below=0.5,
    )
    assert high is not None and high.settled is None and high.converged and high.exceeds is True
    assert high.lambda_max == pytest.approx(exact, rel=1e-2)


def test_adam_before_its_first_step_is_not_measured() -> None:
    model = mlp(0)
    x, y = regression_data()
    assert sharpness(model, lambda: MSE(model(x), y), torch.optim.Adam(model.parameters()), step=0) is None


@pytest.mark.parametrize("seed", range(3))
def test_end_point_extremes_match_the_exact_hessian(seed: int) -> None:
    model = mlp(seed, hidden=6)
    x, y = regression_data(seed=seed)
    exact = exact_hessian_eigenvalues(model, _loss_on(x, y))
    e = end_point(model, lambda: MSE(model(x), y), step=0, max_hvp=80, tolerance=1e-8)
    scale = float(exact.abs().max())
    assert e.lambda_max == pytest.approx(float(exact[-1]), abs=1e-4 * scale)
    assert e.lambda_min == pytest.approx(float(exact[0]), abs=1e-3 * scale)
    grad = torch.autograd.grad(MSE(model(x), y), list(model.parameters()))
    assert e.gradient_norm == pytest.approx(float(torch.cat([g.reshape(-1) for g in grad]).norm()), rel=1e-5)
    assert e.classification == ("not_at_critical_point" if e.gradient_norm >= 1e-3 else e.classification)


def test_a_measurement_leaves_no_trace() -> None:
    model = mlp(0, dropout=0.5)
    model.train()
    x, y = regression_data()
    MSE(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sharpness(model, lambda: MSE(model(x), y), opt, step=0)
    end_point(model, lambda: MSE(model(x), y), step=0)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    with isolated(model, "eval"):
        assert not model.training
    assert model.training


def _train(
    steps: int, lr: float, *, watched: dict | None, seed: int = 0, dropout: float = 0.2
) -> list[float]:
    """Minibatch SGD with dropout and random batches: every RNG stream the run has is in use."""
    model = mlp(seed, dropout=dropout)
    x, y = regression_data(n=128)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    torch.manual_seed(seed + 100)
    losses = []

    def loop(run=None):
        for _ in range(steps):
            idx = torch.randint(0, 96, (16,))
            loss = MSE(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) % 10 == 0:  # evaluated in both runs: its dropout draws are the run's own
                with torch.no_grad():
                    val = MSE(model(x[96:]), y[96:])
                losses.append(val.item())
            if run is not None:
                run.step(loss)
                if len(losses) % 11 == 0:
                    run.eval(val)

    if watched is None:
        loop()
    else:
        with watch(model, opt, MSE, held_batch=(x[:32], y[:32]), **watched) as run:
            loop(run)
    return losses


def test_watching_does_not_change_the_run(tmp_path) -> None:
    plain = _train(60, 0.05, watched=None)
    watched = _train(
        60, 0.05, watched={"output_dir": tmp_path / "w", "curvature_every": 7, "db_path": tmp_path / "s.db"}
    )
    assert watched == plain  # bit for bit: same RNG streams, no leftover gradients


def _limit_run(tmp_path, factor: float, caplog) -> tuple:
    """Full-batch gradient descent at `factor` x 2/lambda_max, lambda_max from the exact Hessian at init."""
    model = mlp(5)
    x, y = regression_data(n=64, seed=5)
    lam = float(exact_hessian_eigenvalues(model, _loss_on(x, y))[-1])
    lr = factor * 2 / lam
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    options = {"output_dir": tmp_path / f"x{factor}", "curvature_every": 5, "db_path": tmp_path / "s.db"}
    with (
        caplog.at_level(logging.INFO, logger="traindoc.watch"),
        watch(model, opt, MSE, held_batch=(x, y), **options) as run,
    ):
        for _ in range(40):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
    return run.report, caplog.text, lam


def test_learning_rate_far_above_the_limit_is_caught(tmp_path, caplog) -> None:
    report, log, lam = _limit_run(tmp_path, 4.0, caplog)
    assert report.answers["learning_rate_exceeds_stability"] == "yes"
    assert "learning_rate_too_high" in report.findings
    eos = [a for a in report.alerts if a["kind"] == "edge_of_stability"]
    assert eos and eos[0]["step"] == 0  # measured at the initial weights, before the first update
    assert log.count("above the stability threshold") == 1  # said once, not at every measurement


def test_learning_rate_below_the_limit_is_not_flagged(tmp_path, caplog) -> None:
    report, log, lam = _limit_run(tmp_path, 0.2, caplog)
    assert report.answers["learning_rate_exceeds_stability"] == "no"
    assert "learning_rate_too_high" not in report.findings
    assert not [a for a in report.alerts if a["kind"] in ("edge_of_stability", "diverged")]


@pytest.mark.slow
def test_overfitting_on_a_tiny_subset_is_caught_with_the_best_step(tmp_path) -> None:
    """16 noisy training points, a wide MLP: the held-out loss bottoms out and rises. The step to keep
    is the argmin of the held-out losses this test computed itself."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 128), nn.Tanh(), nn.Linear(128, 1))
    x, y = regression_data(n=216, seed=7)
    y = y + 0.5 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))  # label noise to memorize
    xt, yt, xv, yv = x[:16], y[:16], x[16:], y[16:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    val: dict[int, float] = {}
    # the trivial predictor's loss (predict the mean) is the target variance: the flowchart's yardstick
    baseline = float(yt.var(unbiased=False))
    with watch(
        model,
        opt,
        MSE,
        held_batch=(xt, yt),
        output_dir=tmp_path / "o",
        db_path=tmp_path / "s.db",
        baseline=baseline,
    ) as run:
        for step in range(1, 801):
            loss = MSE(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
            if step % 20 == 0:
                with torch.no_grad():
                    val[step] = float(MSE(model(xv[:100]), yv[:100]))
                    test = float(MSE(model(xv[100:]), yv[100:]))
                run.eval(val[step])
                run.eval(test, name="test_loss", split="test")  # the flowchart asks about both
    best = min(val, key=val.__getitem__)
    assert val[800] > 1.5 * val[best]  # the construction overfits (checked, not assumed)
    over = [a for a in run.report.alerts if a["kind"] == "overfitting"]
    assert sorted(a["data"]["series"] for a in over) == ["test_loss", "val_loss"]  # once per curve
    assert next(a for a in over if a["data"]["series"] == "val_loss")["data"]["best_step"] == best
    assert "overfitting" in run.report.findings
    # Adam for 800 steps (< 1 / (1 - 0.999)): its preconditioned sharpness is reported, not judged
    assert run.report.sharpness and all(s["exceeds"] is None for s in run.report.sharpness)
    assert not [a for a in run.report.alerts if a["kind"] == "edge_of_stability"]


def test_the_session_and_the_history_file_are_what_traindoc_reads(tmp_path, caplog) -> None:
    report, _, _ = _limit_run(tmp_path, 4.0, caplog)
    store = Store(tmp_path / "s.db").open()
    try:
        record = store.load_session(report.session_id)
    finally:
        store.close()
    assert record is not None
    stored = {i.answer.question: i.answer for i in record.inputs if i.type == "answer"}
    assert stored["learning_rate_exceeds_stability"].value == "yes"
    assert stored["learning_rate_exceeds_stability"].evidence.probe == "watch"
    assert stored["loss_diverged"].source == "history"
    out = run_cli("history", report.files["history"], "--json")
    assert out.code == 0, out.stderr
    history_answers = out.json()["answers"]
    assert history_answers == {q: v for q, v in report.answers.items() if q in history_answers}
    for name in ("json", "markdown", "curves", "sharpness"):
        assert (tmp_path / "x4.0").joinpath(report.files[name].split("/")[-1]).exists()


@pytest.mark.parametrize("sync_every", [8, None])
def test_losses_read_together_give_the_same_points_and_alerts(tmp_path, sync_every) -> None:
    """Batches of 8 and of the default 16 steps against feeding every step (`sync_every=1`): the same
    history, point for point, and the NaN the loop feeds at step 37 (by construction) named at step
    37, reported at the end of its batch, with the learning rate then: the evaluation at step 30 feeds
    the steps not fed yet, so the batch holding step 37 is 31-38 (8 steps) or 31-40 (16, cut by the
    evaluation at step 40)."""

    def fed(sync_every: int | None) -> tuple[list, list, int]:
        model = mlp(1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = regression_data(n=32)
        seen_at = -1
        options = {"output_dir": tmp_path / f"s{sync_every}", "store": False, "curvature": False}
        with watch(model, opt, MSE, sync_every=sync_every, **options) as run:
            for step in range(1, 61):
                loss = MSE(model(x), y) if step != 37 else torch.tensor(math.nan)
                if step != 37:
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                alerts = run.step(loss)
                if step % 10 == 0:
                    alerts += run.eval(0.5)  # feeds the steps not yet fed first
                if any(a.kind == "diverged" for a in alerts) and seen_at < 0:
                    seen_at = step
        points = [
            (n, s, [v if math.isfinite(v) else None for v in vs]) for n, s, vs in run.live.curve_points()
        ]
        return points, [a for a in run.report.alerts if a["kind"] == "diverged"], seen_at

    once, alerts_once, at_once = fed(1)
    batched, alerts_batched, at_batched = fed(sync_every)
    assert batched == once
    assert at_once == 37 and at_batched == (38 if sync_every == 8 else 40)
    assert alerts_batched[0]["step"] == alerts_once[0]["step"] == 37
    assert alerts_batched[0]["message"] == alerts_once[0]["message"]
    assert "learning rate 0.01" in alerts_batched[0]["message"]


@pytest.mark.parametrize("seed", range(12))
def test_the_short_path_of_a_step_feeds_what_the_whole_one_feeds(tmp_path, seed: int) -> None:
    """`run.step`'s short path (most steps: a CPU scalar loss appended to the batch) against feeding
    every step at once (`sync_every=1`, which never takes it), on loops that mix what can arrive at
    a step: a tensor loss, a Python float, a two-element loss (its mean), a NaN at a random step, a
    gradient norm or an epoch given, a batch given, evaluations at random steps, a learning rate
    changed at every step, with random batch sizes, gradient-norm and curvature cadences. The same
    points, the learning rate at each step the one the loop set (0.1 * 0.97^k, computed here), the
    gradient norms exactly at the cadence's multiples and where given, the same alerts; a NaN's
    alert returned at most `sync_every` - 1 steps after it."""
    rng = random.Random(seed)
    steps = rng.randint(40, 160)
    nan_at = rng.randint(2, steps) if rng.random() < 0.5 else None
    kinds = [rng.choice(["tensor", "tensor", "tensor", "float", "pair"]) for _ in range(steps)]
    given_norm = {s for s in range(1, steps + 1) if rng.random() < 0.05}
    given_epoch = {s for s in range(1, steps + 1) if rng.random() < 0.05}
    batch_at = rng.randint(1, steps)
    evals = {s for s in range(1, steps + 1) if rng.random() < 0.1}
    options = {
        "grad_norm_every": rng.choice([1, 3, 7, 50]),
        "curvature_every": rng.choice([None, 4, 9]),
        "store": False,
        "curvature": False,
    }
    x, y = regression_data(n=16)

    def fed(sync_every: int) -> tuple[list, list, int | None]:
        seen_at = None
        model = mlp(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        out = tmp_path / f"s{sync_every}"
        with watch(model, opt, MSE, sync_every=sync_every, output_dir=out, **options) as run:
            for step in range(1, steps + 1):
                opt.param_groups[0]["lr"] = 0.1 * 0.97**step
                loss = MSE(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                fed_loss: float | torch.Tensor = loss
                if step == nan_at:
                    fed_loss = torch.tensor(math.nan)
                elif kinds[step - 1] == "float":
                    fed_loss = loss.item()
                elif kinds[step - 1] == "pair":
                    fed_loss = torch.stack([loss.detach(), 2 * loss.detach()])
                new = run.step(
                    fed_loss,
                    grad_norm=0.5 * step if step in given_norm else None,
                    epoch=step / 10 if step in given_epoch else None,
                    batch=(x[:4], y[:4]) if step == batch_at else None,
                )
                if step in evals:
                    new += run.eval(0.25 + step / 1000)
                if seen_at is None and any(a.kind == "diverged" for a in new):
                    seen_at = step
        alerts = [(a["kind"], a["step"], a["message"]) for a in run.report.alerts]
        points = [
            (n, s, [v if math.isfinite(v) else None for v in vs]) for n, s, vs in run.live.curve_points()
        ]
        return points, alerts, seen_at

    once, alerts_once, _ = fed(1)
    for sync_every in (rng.choice([2, 3, 5]), 16):
        batched, alerts_batched, seen_at = fed(sync_every)
        assert batched == once and alerts_batched == alerts_once
        if nan_at is not None:  # printed at most sync_every - 1 steps after its step
            assert seen_at is not None and nan_at <= seen_at <= nan_at + sync_every - 1
    curves = {n: (s, v) for n, s, v in once}
    lr_steps, rates = curves["learning_rate"]
    assert lr_steps == list(range(1, steps + 1))
    assert rates == [0.1 * 0.97**s for s in range(1, steps + 1)]
    every = options["grad_norm_every"]
    norm_steps = sorted(given_norm | set(range(every, steps + 1, every)))
    assert curves["grad_norm"][0] == norm_steps
    assert all(v == 0.5 * s for s, v in zip(*curves["grad_norm"], strict=True) if s in given_norm)


def test_a_fixed_cadence_measures_at_its_own_steps_between_batches(tmp_path) -> None:
    """Points are fed 16 at a time by default, but a batch also ends at every multiple of
    `curvature_every`: with 7, the measurements are at steps 0, 7, 14, ... 49 exactly, and the end
    point at step 50 (the step numbers are the loop's own)."""
    model = mlp(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = regression_data(n=32)
    options = {"output_dir": tmp_path / "c", "store": False, "curvature_every": 7}
    with watch(model, opt, MSE, held_batch=(x, y), **options) as run:
        for _ in range(50):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
    steps = [s["step"] for s in run.report.sharpness]
    assert steps == [*range(0, 50, 7), 50]
    assert run.live.points("loss") == 50 and run.live.points("learning_rate") == 50


def test_logs_spaced_sync_every_apart_are_fed_at_once(tmp_path) -> None:
    """`Run.queue`, the integrations' feed: a Trainer logging every 20 steps (sync_every 16) has each
    log fed when it arrives (batching would hold a NaN back 15 logs, i.e. 300 steps); logs at every
    step wait until 16 have arrived, then go in together."""
    from assistant.watch._run import Run

    sparse = Run(output_dir=tmp_path / "s", store=False, curvature=False)
    for i, step in enumerate(range(20, 201, 20), 1):
        sparse.queue(step, 1.0 / step, learning_rate=0.1)
        assert sparse.live.points("loss") == i
    dense = Run(output_dir=tmp_path / "d", store=False, curvature=False)
    for step in range(1, 16):
        dense.queue(step, 1.0 / step, learning_rate=0.1)
        assert dense.live.points("loss") == 0
    dense.queue(16, 1.0 / 16, learning_rate=0.1)
    assert dense.live.points("loss") == dense.live.points("learning_rate") == 16
