"""--per-layer and --density (issue 18) against the full Hessian by torch.autograd.functional.hessian.

Ground truth: conftest.reference_hessian (a different code path from the products) and eigvalsh:
- each layer's block H_ll of the reference, its eigvalsh extremes;
- the exact trace of the reference, and the exact share of its eigenvalues below -tau.
The density figures are estimates: the test checks that the truth lies within what the output
claims (the trace within 4 standard errors, the negative share within the quadrature's range), over
several seeds, and that the smoothed density is a probability density.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from probes.measure import measure_curvature
from probes.spectrum import layer_blocks
from tests.probes.conftest import classification_data, mlp, reference_hessian

CE = nn.CrossEntropyLoss()


def test_layer_blocks_group_weight_and_bias_in_order() -> None:
    model = mlp(0, (5, 8, 6, 3))
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    assert layer_blocks(names, params) == [("0", 0, 48), ("2", 48, 102), ("4", 102, 123)]


@pytest.mark.parametrize("seed", range(3))
def test_per_layer_matches_each_block_of_the_exact_hessian(seed: int) -> None:
    model = mlp(seed, (5, 16, 16, 3))
    x, y = classification_data(64, (5,), 3, seed=seed)
    h = reference_hessian(model, CE, x, y)
    m = measure_curvature(model, CE, (x, y), exact_limit=0, per_layer=True)
    assert m.layers is not None and [layer["name"] for layer in m.layers] == ["0", "2", "4"]
    offset = 0
    for layer in m.layers:
        n = layer["params"]
        eig = torch.linalg.eigvalsh(h[offset : offset + n, offset : offset + n])
        offset += n
        radius = float(eig.abs().max())
        assert layer["lambda_max"] == pytest.approx(float(eig[-1]), abs=2e-3 * radius)
        assert layer["lambda_min"] == pytest.approx(float(eig[0]), abs=2e-3 * radius)
        assert layer["hvp_count"] >= 1
    assert offset == m.parameters
    assert m.to_dict()["layers"] == m.layers


@pytest.mark.parametrize("seed", range(5))
def test_density_trace_and_negative_share_hold_the_truth(seed: int) -> None:
    model = mlp(seed, (5, 16, 16, 3))
    x, y = classification_data(64, (5,), 3, seed=seed)
    h = reference_hessian(model, CE, x, y)
    eig = torch.linalg.eigvalsh(h)
    m = measure_curvature(model, CE, (x, y), exact_limit=0, density=True, density_vectors=8)
    d = m.density
    assert d is not None and d["vectors"] == 8 and "ESTIMATE" in d["method"]
    trace = d["trace"]
    assert abs(trace["estimate"] - float(h.trace())) <= 4 * trace["std_error"]
    share = d["negative_share"]
    truth = float((eig < -share["zero_tolerance"]).double().mean())
    low, high = share["range"]
    slack = 3 * max(share["range_std_error"])
    assert low - slack <= truth <= high + slack
    assert "ESTIMATE" in share["label"]
    # a probability density on its grid
    assert np.trapezoid(d["density"], d["grid"]) == pytest.approx(1.0, abs=1e-3)
    assert min(d["density"]) >= 0
    assert d["hvp_count"] <= 8 * d["steps"]


def test_density_needs_two_vectors() -> None:
    from probes.base import ProbeError

    model = mlp(0)
    x, y = classification_data(16, (5,), 3)
    with pytest.raises(ProbeError, match="density_vectors"):
        measure_curvature(model, CE, (x, y), density=True, density_vectors=1)


def test_per_layer_and_density_report_their_progress_labelled() -> None:
    """Each layer's and each probe vector's Lanczos run reports its products, named, so a long
    measurement never looks stuck (the 10M-parameter run sat at one bar for many minutes before)."""
    model = mlp(0, (5, 8, 3))
    x, y = classification_data(32, (5,), 3, seed=0)
    messages: list[str] = []
    measure_curvature(
        model,
        CE,
        (x, y),
        exact_limit=0,
        per_layer=True,
        density=True,
        density_vectors=2,
        progress=lambda update: messages.append(update.message),
    )
    assert any(m.startswith("layer 0 (1/2): Lanczos") for m in messages)
    assert any(m.startswith("layer 2 (2/2): Lanczos") for m in messages)
    assert any(m.startswith("density vector 2/2: Lanczos") for m in messages)


def test_per_layer_text_puts_negative_curvature_where_it_lives() -> None:
    """A zero-initialised two-layer linear chain under MSE is a saddle whose negative curvature lives
    only in the coupling of the two layers: with every weight 0, d2L/dW1^2 = 0 and d2L/dW2^2 = 0
    (each layer's loss is flat while the other layer is zero), while the cross block is -2 E[x y]
    != 0, so the whole Hessian has eigenvalues +-|cross|. The truth is checked here with
    reference_hessian + eigvalsh before the report's text is read."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False))
    for p in model.parameters():
        nn.init.zeros_(p)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    loss = nn.MSELoss()
    h = reference_hessian(model, loss, x, y)
    assert torch.count_nonzero(h[:6, :6]) == 0 and torch.count_nonzero(h[6:, 6:]) == 0
    assert float(torch.linalg.eigvalsh(h)[0]) < -0.1
    m = measure_curvature(model, loss, (x, y), exact_limit=0, per_layer=True)
    assert m.hessian_negative is True
    text = next(rule for rule in m.rules if rule.startswith("per layer"))
    assert "no layer's own block has a clearly negative eigenvalue" in text
    assert "lies in the coupling between layers" in text
