"""The cheaper end point (goal "decide": lambda_min only as far as the saddle / minimum decision needs
it, not at all away from a critical point, Lanczos warm-started from a previous top eigenvector) gives
the flowchart's verdict that the truth gives. The truth never comes from traindoc's code:
- a saddle in closed form: the zero-initialised linear chain x -> w2^T W1 x, where the gradient is 0 and
  the Hessian is [[0, B], [B^T, 0]] with B[(i, j), k] = -2 delta_ik c_j, c = mean(x y): its
  eigenvalues are +-2 ||c|| (h times each) and 0, so lambda_min = -2 ||c||, computed here by hand;
- a minimum in closed form: least squares at its optimum (torch.linalg.lstsq in float64), whose
  Hessian 2 X1^T X1 / n is positive definite (its eigenvalues from eigvalsh in the test);
- trained tanh MLPs in float64 (L-BFGS to a small gradient): the gradient norm from torch.autograd.grad
  and every eigenvalue from torch.autograd.functional.hessian + eigvalsh (tests/watch/conftest.py),
  read with the flowchart's thresholds (gradient below 1e-3; lambda_min below -1e-3 x the spectral
  radius); seeds whose lambda_min lies within a factor 2 of that threshold are not clear-cut and are
  only counted;
- points away from a critical point (random initialisations): the verdict, and lambda_max within the
  cadence's 1% of eigvalsh's top eigenvalue (the stability check reads it).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assistant.watch import watch
from probes.live import end_point, sharpness
from rules.judgements import GRADIENT_ZERO, NEGATIVE_FRACTION
from tests.watch.conftest import exact_hessian_eigenvalues, mlp, regression_data

MSE = nn.MSELoss()


def _truth(eigenvalues: torch.Tensor, gradient_norm: float) -> str:
    """The flowchart's reading of exact numbers (rules/judgements.py thresholds, written out here)."""
    if gradient_norm >= GRADIENT_ZERO:
        return "not_at_critical_point"
    radius = float(eigenvalues.abs().max())
    return "saddle_point" if float(eigenvalues[0]) < -NEGATIVE_FRACTION * radius else "local_minimum_like"


def _gradient_norm(model: nn.Module, loss: torch.Tensor) -> float:
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return float(torch.cat([g.reshape(-1) for g in grads]).norm())


def _chain(inputs: int, hidden: int) -> nn.Module:
    model = nn.Sequential(nn.Linear(inputs, hidden, bias=False), nn.Linear(hidden, 1, bias=False))
    for p in model.parameters():
        nn.init.zeros_(p)
    return model.double()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("goal", ["decide", "accurate"])
def test_zero_initialised_linear_chain_is_a_saddle_in_closed_form(seed: int, goal: str) -> None:
    x, y = regression_data(n=48, inputs=3, seed=seed)
    x, y = x.double(), y.double()
    model = _chain(3, 4)
    c = (x * y).mean(dim=0)  # mean(x y), per input
    expected = -2 * float(c.norm())
    e = end_point(model, lambda: MSE(model(x), y), step=0, goal=goal)
    assert e.gradient_norm == 0.0
    assert e.classification == "saddle_point"
    assert e.hessian_negative is True
    # a proven saddle: the Ritz lambda_min is an upper bound on the true one (interlacing)
    assert e.lambda_min >= expected - 1e-9 * abs(expected)
    assert e.lambda_min < -NEGATIVE_FRACTION * abs(expected)


@pytest.mark.parametrize("seed", range(5))
def test_least_squares_optimum_is_a_minimum_in_closed_form(seed: int) -> None:
    x, y = regression_data(n=64, inputs=4, seed=seed)
    x, y = x.double(), y.double()
    x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    solution = torch.linalg.lstsq(x1, y).solution
    model = nn.Linear(4, 1).double()
    with torch.no_grad():
        model.weight.copy_(solution[:4].T)
        model.bias.copy_(solution[4])
    hessian = 2 * x1.T @ x1 / len(x)
    exact = torch.linalg.eigvalsh(hessian)
    assert float(exact[0]) > 0  # positive definite: a strict minimum
    decided = end_point(model, lambda: MSE(model(x), y), step=0, goal="decide")
    assert decided.gradient_norm < GRADIENT_ZERO
    assert decided.classification == "local_minimum_like" == _truth(exact, decided.gradient_norm)
    assert decided.hessian_negative is False
    assert decided.lambda_max == pytest.approx(float(exact[-1]), rel=1e-3)


def _trained(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = mlp(seed, inputs=3, hidden=5).double()
    x, y = regression_data(n=40, inputs=3, seed=seed)
    x, y = x.double(), y.double()
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-9, history_size=50)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = MSE(model(x), y)
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
    for p in model.parameters():
        p.grad = None
    return model, x, y


def _on(x: torch.Tensor, y: torch.Tensor):
    return lambda forward: MSE(forward(x), y)


def _closure(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    return lambda: MSE(model(x), y)


@pytest.mark.slow  # L-BFGS to a small gradient in float64: ~8 s a seed here
def test_trained_networks_get_the_verdict_of_their_exact_hessian() -> None:
    clear: dict[str, int] = {}
    for seed in range(5):
        model, x, y = _trained(seed)
        exact = exact_hessian_eigenvalues(model, _on(x, y))
        norm = _gradient_norm(model, MSE(model(x), y))
        loss = _closure(model, x, y)
        truth = _truth(exact, norm)
        radius = float(exact.abs().max())
        tau = NEGATIVE_FRACTION * radius
        lam_min = float(exact[0])
        if truth != "not_at_critical_point" and -2 * tau < lam_min < -0.5 * tau:
            continue  # within a factor 2 of the threshold: not a clear-cut case
        decided = end_point(model, loss, step=0, goal="decide", max_hvp=60)
        full = end_point(model, loss, step=0, goal="accurate", max_hvp=60)
        assert decided.classification == truth == full.classification, (seed, lam_min, tau, norm)
        assert decided.hvp <= full.hvp
        clear[truth] = clear.get(truth, 0) + 1
    # the cases must include critical points, or the test would decide nothing about lambda_min
    assert sum(n for k, n in clear.items() if k != "not_at_critical_point") >= 3, clear


@pytest.mark.parametrize("seed", range(6))
def test_away_from_a_critical_point_lambda_max_only_and_warm(seed: int) -> None:
    model = mlp(seed, hidden=6)
    x, y = regression_data(seed=seed)
    exact = exact_hessian_eigenvalues(model, lambda forward: MSE(forward(x), y))
    norm = _gradient_norm(model, MSE(model(x), y))
    assert _truth(exact, norm) == "not_at_critical_point"
    previous = sharpness(model, lambda: MSE(model(x), y), None, step=0, max_hvp=40, tolerance=1e-4)
    assert previous is not None and previous.vector is not None
    # one SGD step later the top eigenvector has moved a little: the end point starts from the old one
    grads = torch.autograd.grad(MSE(model(x), y), list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p -= 0.05 * g
    exact = exact_hessian_eigenvalues(model, lambda forward: MSE(forward(x), y))
    cold = end_point(model, lambda: MSE(model(x), y), step=1, goal="accurate", max_hvp=60)
    warm = end_point(
        model, lambda: MSE(model(x), y), step=1, goal="decide", top_tolerance=1e-2, start=previous.vector
    )
    assert warm.classification == cold.classification == "not_at_critical_point"
    assert warm.warm_start and not warm.lambda_min_needed
    assert warm.lambda_max == pytest.approx(float(exact[-1]), rel=1e-2)
    assert warm.hvp < cold.hvp


def test_a_watched_run_at_a_saddle_reports_it(tmp_path) -> None:
    """Through the whole watch path: a loop whose optimizer cannot move the zero-initialised chain
    (lr 0) ends where it started, at the closed-form saddle."""
    x, y = regression_data(n=48, inputs=3, seed=0)
    x, y = x.double(), y.double()
    model = _chain(3, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    with watch(
        model, opt, MSE, held_batch=(x, y), output_dir=tmp_path, store=False, emit=lambda *_: None
    ) as run:
        for _ in range(5):
            loss = MSE(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss)
    report = run.report
    assert report.end_point["classification"] == "saddle_point"
    assert report.answers["gradient_norm_small"] == "yes"
    assert report.answers["hessian_negative_eigenvalue"] == "yes"
    assert report.end_point["lambda_min"] < 0
