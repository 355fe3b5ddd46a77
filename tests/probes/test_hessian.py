"""Hessian-vector products, Lanczos and the exact spectrum against torch.autograd.functional.hessian.

All comparisons run in float64. Tolerances: products and the exact Hessian agree with the reference to
1e-10 (relative to its largest entry); a Lanczos run that reports convergence at tol=1e-8 agrees with
eigvalsh to 1e-6 relative to the spectral radius at both ends.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.base import ProbeCancelled, ProbeError, ProbeProgress
from probes.hessian import (
    HessianOperator,
    estimated_spectrum_shares,
    exact_hessian,
    exact_spectrum,
    exact_spectrum_shares,
    flatten,
    lanczos,
    unflatten,
)
from tests.probes.conftest import (
    Useless,
    batchnorm_net,
    classification_data,
    cnn,
    lecture_data,
    mlp,
    reference_hessian,
)

CE = nn.CrossEntropyLoss()


def operator(model: nn.Module, loss_fn, x, y) -> HessianOperator:
    return HessianOperator(loss_fn(model(x), y), list(model.named_parameters()))


def test_flatten_unflatten_round_trip() -> None:
    tensors = [torch.randn(2, 3), torch.randn(4), torch.randn(1, 1, 2)]
    flat = flatten(tensors)
    assert flat.shape == (12,)
    back = unflatten(flat, tensors)
    assert all(torch.equal(a, b) for a, b in zip(tensors, back, strict=True))


def test_lecture_example_exact_hessian() -> None:
    x, y = lecture_data()
    op = operator(Useless(), nn.MSELoss(), x, y)
    assert op.dim == 2 and float(op.gradient.norm()) == 0.0
    h = exact_hessian(op)
    assert torch.equal(h, torch.tensor([[0.0, -2.0], [-2.0, 0.0]], dtype=torch.float64))
    spectrum = exact_spectrum(op)
    assert spectrum.eigenvalues.tolist() == [-2.0, 2.0]
    u = spectrum.vector_min
    assert torch.allclose(u.abs(), torch.full((2,), 2**-0.5, dtype=torch.float64), atol=1e-15)
    assert float(u[0] * u[1]) > 0  # +-[1, 1]/sqrt(2): both components with the same sign


@pytest.mark.parametrize(
    "build, data",
    [
        (lambda: mlp(0), lambda: classification_data(40, (5,), 3)),
        (lambda: mlp(1, (4, 7, 7, 2), nn.Softplus), lambda: classification_data(30, (4,), 2)),
        (cnn, lambda: classification_data(24, (1, 7, 7), 3)),
    ],
    ids=["mlp-tanh", "mlp-softplus", "cnn"],
)
def test_products_and_exact_hessian_match_autograd(build, data) -> None:
    model, (x, y) = build(), data()
    reference = reference_hessian(model, CE, x, y)
    op = operator(model, CE, x, y)
    scale = float(reference.abs().max())
    v = torch.randn(op.dim, dtype=torch.float64)
    assert torch.allclose(op(v), reference @ v, atol=1e-10 * scale, rtol=0)
    assert torch.allclose(exact_hessian(op), reference, atol=1e-10 * scale, rtol=0)


def _check_lanczos(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    reference = torch.linalg.eigvalsh(reference_hessian(model, CE, x, y))
    radius = float(reference.abs().max())
    result = lanczos(operator(model, CE, x, y), max_iter=400, tol=1e-8)
    assert result.converged, result.stopped_because
    assert result.lambda_max == pytest.approx(float(reference[-1]), abs=1e-6 * radius)
    assert result.lambda_min == pytest.approx(float(reference[0]), abs=1e-6 * radius)
    assert float(reference[0]) < 0 < float(reference[-1])  # both ends are informative here


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lanczos_extremes_match_eigvalsh_on_random_mlps(seed: int) -> None:
    x, y = classification_data(50, (5,), 3, seed=seed + 10)
    _check_lanczos(mlp(seed, (5, 10, 8, 3)), x, y)


def test_lanczos_extremes_match_eigvalsh_on_a_cnn() -> None:
    x, y = classification_data(24, (1, 7, 7), 3)
    _check_lanczos(cnn(3), x, y)


@pytest.mark.parametrize("training", [True, False], ids=["train-mode", "eval-mode"])
def test_lanczos_extremes_match_eigvalsh_with_batch_norm(training: bool) -> None:
    model = batchnorm_net(4)
    x, y = classification_data(32, (4,), 2)
    with torch.no_grad():  # some running statistics so eval mode differs from train mode
        model.train()
        model(x)
    model.train(training)
    _check_lanczos(model, x, y)


def test_lanczos_returns_ritz_vector_of_lambda_min() -> None:
    model = mlp(5, (5, 9, 3))
    x, y = classification_data(40, (5,), 3)
    op = operator(model, CE, x, y)
    result = lanczos(op, max_iter=400, tol=1e-10)
    u = result.vector_min
    assert u is not None and float(u.norm()) == pytest.approx(1.0, abs=1e-12)
    hu = op(u)
    # the reported residual is the true one; the eigenvalue converges faster (about residual^2/gap)
    assert float((hu - result.lambda_min * u).norm()) == pytest.approx(
        result.residual_min, rel=1e-3, abs=1e-12
    )
    assert float(u @ hu) == pytest.approx(result.lambda_min, abs=1e-10)
    exact = exact_spectrum(op)
    assert abs(float(u @ exact.vector_min)) == pytest.approx(1.0, abs=1e-6)


def test_non_convergence_is_data_not_an_exception() -> None:
    model = mlp(0, (5, 20, 20, 3))
    x, y = classification_data(60, (5,), 3)
    result = lanczos(operator(model, CE, x, y), max_iter=4, tol=1e-12)
    assert result.converged is False
    assert result.stopped_because == "budget" and result.iterations == 4
    assert len(result.history) == 4


def test_progress_reports_both_estimates_and_stop_check_cancels() -> None:
    model = mlp(0)
    x, y = classification_data(40, (5,), 3)
    events: list[ProbeProgress] = []
    lanczos(operator(model, CE, x, y), max_iter=6, tol=1e-12, progress=events.append)
    assert [e.done for e in events] == [1, 2, 3, 4, 5, 6]
    assert all({"lambda_max", "lambda_min"} <= set(e.estimate) for e in events)
    calls = iter([False, False, True])
    with pytest.raises(ProbeCancelled):
        lanczos(operator(model, CE, x, y), max_iter=20, should_stop=lambda: next(calls))


def test_parameters_without_gradient_are_skipped() -> None:
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(0)
            self.unused = nn.Linear(3, 3).double()  # registered, never called

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    model = WithSpare()
    model.net[0].bias.requires_grad_(False)
    x, y = classification_data(30, (5,), 3)
    op = operator(model, CE, x, y)
    assert op.skipped == ["unused.weight", "unused.bias"]
    assert "net.0.bias" not in op.names
    expected = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "unused" not in n)
    assert op.dim == expected
    assert op(torch.randn(op.dim, dtype=torch.float64)).shape == (op.dim,)


def test_loss_linear_in_parameters_has_zero_hessian() -> None:
    model = nn.Linear(3, 1).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    op = HessianOperator(model(x).mean(), list(model.named_parameters()))
    assert float(op(torch.randn(4, dtype=torch.float64)).abs().max()) == 0.0
    result = lanczos(op, max_iter=10)
    assert result.converged and result.lambda_max == 0.0 and result.lambda_min == 0.0


def test_operator_refuses_models_without_trainable_parameters() -> None:
    model = nn.Linear(2, 1).double().requires_grad_(False)
    with pytest.raises(ProbeError, match="no parameters that require gradients"):
        HessianOperator(model(torch.ones(1, 2, dtype=torch.float64)).sum(), list(model.named_parameters()))


def test_exact_shares_count_with_zero_tolerance() -> None:
    shares = exact_spectrum_shares(
        torch.tensor([-2.0, -1e-9, 0.0, 1e-9, 3.0, 4.0], dtype=torch.float64), 1e-6
    )
    assert (shares.positive, shares.negative) == (2 / 6, 1 / 6)
    assert shares.near_zero == pytest.approx(3 / 6)
    assert shares.exact and shares.minimum_ratio == 2 / 6


def _quadratic_operator(eigenvalues: torch.Tensor, seed: int = 0) -> HessianOperator:
    """loss = theta^T A theta / 2 with A = Q diag(eigenvalues) Q^T, so H = A exactly."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))
    a = q @ torch.diag(eigenvalues) @ q.T
    theta = nn.Parameter(torch.randn(len(eigenvalues), generator=g, dtype=torch.float64))
    return HessianOperator(0.5 * theta @ a @ theta, [("theta", theta)])


def test_estimated_shares_are_close_without_a_near_zero_bulk() -> None:
    # 30% negative, 70% positive, nothing within 0.2 of zero: 40 nodes resolve the split
    values = torch.cat([torch.linspace(-1.0, -0.2, 150), torch.linspace(0.2, 2.0, 350)]).double()
    op = _quadratic_operator(values)
    tau = 1e-3 * 2.0
    estimate = estimated_spectrum_shares(lanczos(op, max_iter=40, tol=1e-12, min_iter=40), tau)
    assert not estimate.exact and "ESTIMATE" in estimate.method
    # sampling error of one random vector is about 1/sqrt(n) = 0.045; the ranges add node weights
    assert estimate.positive == pytest.approx(0.7, abs=0.1)
    assert estimate.negative == pytest.approx(0.3, abs=0.1)
    assert estimate.positive_range[1] - estimate.positive_range[0] < 0.2


@pytest.mark.parametrize("seed", [0, 3])
def test_estimated_share_ranges_hold_with_a_near_zero_bulk(seed: int) -> None:
    # a network's spectrum: a dense bulk near zero that a few dozen nodes cannot resolve; the
    # exact shares must lie in the reported ranges (up to the 1/sqrt(n) sampling error, 0.07 here)
    model = mlp(seed, (6, 24, 24, 4))
    x, y = classification_data(80, (6,), 4, seed=seed)
    op = operator(model, CE, x, y)
    exact = exact_spectrum(op)
    tau = 1e-3 * float(exact.eigenvalues.abs().max())
    truth = exact_spectrum_shares(exact.eigenvalues, tau)
    estimate = estimated_spectrum_shares(lanczos(op, max_iter=60, tol=1e-12, min_iter=60, seed=seed), tau)
    slack = 0.07
    assert estimate.positive_range[0] - slack <= truth.positive <= estimate.positive_range[1] + slack
    assert estimate.negative_range[0] - slack <= truth.negative <= estimate.negative_range[1] + slack
    assert estimate.positive + estimate.near_zero + estimate.negative == pytest.approx(1.0)
