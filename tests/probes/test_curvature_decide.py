"""Issue 19 / 18 / 10.5: the deciding goal, measurement over batches, consistent shares.

Ground truth never comes from the code under test: the full Hessian by
`torch.autograd.functional.hessian` (conftest.reference_hessian, a different code path) and
`torch.linalg.eigvalsh`, and closed forms:
- a one-hidden-layer tanh net f = W2 tanh(W1 x + b1) + b2 at all-zero parameters with centred targets
  is a critical point (every gradient term has a factor W2, tanh(0) or mean(y) = 0) and a saddle
  (d2L / dW2_j dW1_jk = -2 mean(y x_k) != 0 off a zero diagonal block);
- least squares at its lstsq solution has H = 2 [X 1]^T [X 1] / n, positive definite.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.hessian import PiecewiseHessianOperator, SpectrumShares, consistent_shares
from probes.measure import measure_curvature
from tests.probes.conftest import classification_data, mlp, reference_hessian

MSE = nn.MSELoss()
CE = nn.CrossEntropyLoss()
SEEDS = range(8)


def origin_saddle(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = mlp(seed, (5, 8, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randn(40, 1, generator=g, dtype=torch.float64)
    return model, x, y - y.mean()


def least_squares(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(100, 30, generator=g, dtype=torch.float64)
    y = x @ torch.randn(30, 1, generator=g, dtype=torch.float64) + 0.1 * torch.randn(
        100, 1, generator=g, dtype=torch.float64
    )
    model = nn.Linear(30, 1).double()
    solution = torch.linalg.lstsq(torch.cat([x, torch.ones(100, 1, dtype=torch.float64)], 1), y).solution
    with torch.no_grad():
        model.weight.copy_(solution[:30].T)
        model.bias.copy_(solution[30])
    return model, x, y


def truth(model: nn.Module, loss_fn, x, y, threshold: float = 1e-3) -> tuple[torch.Tensor, str]:
    eig = torch.linalg.eigvalsh(reference_hessian(model, loss_fn, x, y))
    radius = float(eig.abs().max())
    return eig, "saddle_point" if float(eig[0]) < -threshold * radius else "local_minimum_like"


@pytest.mark.parametrize("seed", SEEDS)
def test_decide_proves_the_saddle_in_few_products(seed: int) -> None:
    model, x, y = origin_saddle(seed)
    eig, kind = truth(model, MSE, x, y)
    assert kind == "saddle_point"
    decided = measure_curvature(model, MSE, (x, y), goal="decide", exact_limit=0, batch_size=16)
    accurate = measure_curvature(model, MSE, (x, y), goal="accurate", exact_limit=0, batch_size=16)
    assert decided.classification == accurate.classification == "saddle_point"
    assert decided.hvp_count <= 20
    assert decided.lambda_min >= float(eig[0]) - 1e-12  # interlacing: the Ritz value is above
    assert accurate.lambda_min == pytest.approx(float(eig[0]), rel=1e-3)
    assert accurate.lambda_max == pytest.approx(float(eig[-1]), rel=1e-3)
    assert decided.escape is not None and decided.escape.lowers_loss


@pytest.mark.parametrize("seed", SEEDS)
def test_decide_settles_a_minimum_and_says_why(seed: int) -> None:
    model, x, y = least_squares(seed)
    eig, kind = truth(model, MSE, x, y)
    assert kind == "local_minimum_like" and float(eig[0]) > 0
    m = measure_curvature(model, MSE, (x, y), goal="decide")
    assert m.classification == "local_minimum_like" and m.hessian_negative is False
    assert m.hvp_count <= 20 and m.settled is not None and m.settled.startswith("no clearly negative")
    # the reported bounds hold: lambda_max above its Ritz value, lambda_min below
    low, high = m.bounds()["lambda_max"]
    assert low <= float(eig[-1]) + 1e-9 and (high is None or float(eig[-1]) <= high + 1e-9)
    assert float(eig[0]) <= m.bounds()["lambda_min"][1] + 1e-9
    assert any("goal decide" in r for r in m.rules)
    data = m.to_dict()
    assert data["goal"] == "decide" and data["decision"] == m.settled and data["lambda_min_computed"]


@pytest.mark.parametrize("seed", SEEDS)
def test_not_critical_spends_products_on_lambda_max_only(seed: int) -> None:
    model = mlp(seed, (5, 16, 16, 3))
    x, y = classification_data(64, (5,), 3, seed=seed)
    eig = torch.linalg.eigvalsh(reference_hessian(model, CE, x, y))
    m = measure_curvature(model, CE, (x, y), goal="decide")
    assert m.classification == "not_at_critical_point" and m.gradient_norm > 1e-3
    assert not m.lambda_min_computed and m.to_dict()["lambda_min_computed"] is False
    assert m.hvp_count <= 20
    assert m.lambda_max == pytest.approx(float(eig[-1]), rel=1e-3)
    assert m.lambda_min >= float(eig[0]) - 1e-12  # only an upper bound, and reported as one
    assert m.bounds()["lambda_min"][0] is None
    assert not any("did not converge" in w for w in m.warnings)
    assert "not computed" in " ".join(m.rules)


@pytest.mark.parametrize("graph", ["retain", "recompute"])
@pytest.mark.parametrize("batch", [7, 25, 100])
def test_batches_give_the_whole_data_hessian(graph: str, batch: int) -> None:
    model = mlp(3)
    x, y = classification_data(100, (5,), 3, seed=4)
    h = reference_hessian(model, CE, x, y)
    full_grad = torch.autograd.grad(CE(model(x), y), list(model.parameters()))
    xs, ys = x.split(batch), y.split(batch)
    pieces = [lambda xb=xb, yb=yb: CE(model(xb), yb) for xb, yb in zip(xs, ys, strict=True)]
    op = PiecewiseHessianOperator(pieces, [len(b) for b in xs], list(model.named_parameters()), graph=graph)
    assert op.graph_mode == ("retained" if graph == "retain" else "recomputed")
    assert op.batches == len(xs) and op.graph_bytes > 0
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(op.dim, generator=g, dtype=torch.float64)
        assert torch.allclose(op(v), h @ v, atol=1e-12 * float(h.abs().max()) * op.dim)
    assert torch.allclose(op.gradient, torch.cat([t.reshape(-1) for t in full_grad]), atol=1e-14)
    # each batch's own Hessian, from the reference on that batch alone
    u = torch.randn(op.dim, generator=g, dtype=torch.float64)
    for hv, xb, yb in zip(op.per_batch(u), xs, ys, strict=True):
        assert torch.allclose(hv, reference_hessian(model, CE, xb, yb) @ u, atol=1e-11)


def test_measurement_over_all_samples_reports_batches_and_spread() -> None:
    model = mlp(5)
    x, y = classification_data(300, (5,), 3, seed=6)
    eig = torch.linalg.eigvalsh(reference_hessian(model, CE, x, y))
    m = measure_curvature(model, CE, (x, y), samples="all", batch_size=64, exact_limit=0)
    assert m.samples == 300 and m.batches == 5 and m.batch_size == 64
    assert m.lambda_max == pytest.approx(float(eig[-1]), rel=1e-3)
    assert m.lambda_min == pytest.approx(float(eig[0]), rel=1e-3)
    spread = m.batch_spread
    assert spread is not None and spread["batches"] == 5
    # per-batch Rayleigh quotients of the top eigenvector: never above each batch's own lambda_max
    for key in ("gradient_norm", "lambda_max", "lambda_min"):
        assert spread[key]["min"] <= spread[key]["mean"] <= spread[key]["max"]
    top = max(
        float(torch.linalg.eigvalsh(reference_hessian(model, CE, xb, yb))[-1])
        for xb, yb in zip(x.split(64), y.split(64), strict=True)
    )
    assert spread["lambda_max"]["max"] <= top + 1e-9
    data = m.to_dict()
    assert (data["samples"], data["batches"], data["batch_size"]) == (300, 5, 64)


@pytest.mark.parametrize("seed", range(4))
def test_estimated_shares_never_contradict_lambda_min(seed: int) -> None:
    # positive definite: no clearly negative eigenvalue, so no clearly negative share either
    model, x, y = least_squares(seed)
    m = measure_curvature(model, MSE, (x, y), exact_limit=0)
    assert m.hessian_negative is False
    assert m.shares.negative == 0.0 and m.shares.negative_range == (0.0, 0.0)
    assert "no clearly negative" in " ".join(m.rules)


def test_consistent_shares_exhaustive_over_the_verdicts() -> None:
    raw = SpectrumShares(0.4, 0.1, 0.5, 1e-3, False, "ESTIMATE", (0.2, 0.9), (0.0, 0.8))
    for negative in (True, False, None):
        s = consistent_shares(raw, negative, dim=100)
        assert abs(s.positive + s.near_zero + s.negative - 1) < 1e-12 or s.near_zero == 0
        assert s.positive_range[0] <= s.positive <= s.positive_range[1]
        assert s.negative_range[0] <= s.negative <= s.negative_range[1]
        if negative is False:
            assert s.negative_range == (0.0, 0.0)
        if negative is True:
            assert s.negative_range[0] >= 1 / 100 and s.positive_range[1] <= 1 - 1 / 100
        if negative is None:
            assert s == raw


def test_the_diagnosis_decides_and_the_explicit_command_measures_accurately() -> None:
    import argparse

    from probes.curvature import CurvatureOptions
    from probes.registry import PROBES

    # run_probe("curvature", ctx) with no options is what the automatic diagnosis calls: the
    # options model's defaults (issue 13: declared once, in probes/curvature/options.py)
    assert CurvatureOptions().goal == "decide"
    parser = argparse.ArgumentParser()
    options = PROBES["curvature"].add_arguments(parser)
    assert options(parser.parse_args([]))["goal"] == "accurate"
    assert options(parser.parse_args(["--goal", "decide"]))["goal"] == "decide"
    assert options(parser.parse_args(["--samples", "all"]))["samples"] == "all"
    assert options(parser.parse_args(["--samples", "512"]))["samples"] == 512
