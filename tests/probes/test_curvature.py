"""The curvature measurement on models whose answer is known, and the probe on a real trained setup."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from probes.base import ProbeCancelled, ProbeError, ProbeProgress
from probes.context import ProbeContext
from probes.curvature import answers, curvature_probe
from probes.measure import measure_curvature
from probes.registry import PROBES, run_probe
from probes.setup import load_setup
from tests.probes.conftest import SETUPS, Useless, batchnorm_net, classification_data, lecture_data, mlp

REQUIRED_KEYS = {
    "gradient_norm",
    "lambda_max",
    "lambda_min",
    "minimum_ratio",
    "minimum_ratio_exact",
    "hvp_count",
    "classification",
    "seconds",
    "mode",
    "samples",
    "thresholds",
    "converged",
    "device",
    "learning_rate",
    "stability_limit",
    "escape",
}


# -- the lecture's example --------------------------------------------------------------------------


def test_lecture_saddle_exact() -> None:
    m = measure_curvature(Useless(), nn.MSELoss(), lecture_data())
    assert m.gradient_norm == 0.0
    assert m.eigenvalues is not None and m.eigenvalues.tolist() == [-2.0, 2.0]
    assert (m.lambda_max, m.lambda_min) == (2.0, -2.0)
    assert m.method == "exact" and m.shares.exact and m.minimum_ratio == 0.5
    assert m.classification == "saddle_point" and m.hessian_negative is True
    assert answers(m)["gradient_norm_small"] == "yes"
    assert answers(m)["hessian_negative_eigenvalue"] == "yes"


@pytest.mark.parametrize("exact_limit", [2000, 0], ids=["exact", "lanczos"])
def test_lecture_saddle_escape_direction_lowers_the_loss(exact_limit: int) -> None:
    m = measure_curvature(Useless(), nn.MSELoss(), lecture_data(), exact_limit=exact_limit)
    assert m.lambda_min == pytest.approx(-2.0, abs=1e-12)
    assert m.lambda_max == pytest.approx(2.0, abs=1e-12)
    assert m.classification == "saddle_point"
    escape = m.escape
    assert escape is not None and escape.lowers_loss
    u = escape.direction
    assert torch.allclose(u.abs(), torch.full((2,), 2**-0.5, dtype=torch.float64), atol=1e-12)
    assert float(u[0] * u[1]) > 0  # +-[1, 1]/sqrt(2)
    for step in escape.steps:
        # along +-[1,1]/sqrt(2) at distance t: w1 = w2 = +-t/sqrt(2), so L = (1 - t^2/2)^2
        assert step.loss == pytest.approx((1 - step.distance**2 / 2) ** 2, rel=1e-12)
        assert step.change < 0
        assert step.predicted_change == pytest.approx(-(step.distance**2), rel=1e-9)
    assert escape.best.loss == pytest.approx(0.25)
    assert any("escape" in r and "0.25" in r for r in m.rules)


def test_convex_quadratic_is_local_minimum_like() -> None:
    # least squares at its exact solution: gradient ~ 0, H = 2 X^T X / n positive definite
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.1 * torch.randn(
        64, generator=g, dtype=torch.float64
    )
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y.unsqueeze(1)).solution.T)
    m = measure_curvature(model, nn.MSELoss(), (x, y.unsqueeze(1)))
    expected = torch.linalg.eigvalsh(2 * x.T @ x / len(x))
    assert m.gradient_norm < 1e-12
    assert m.lambda_min == pytest.approx(float(expected[0]), rel=1e-10)
    assert m.lambda_max == pytest.approx(float(expected[-1]), rel=1e-10)
    assert m.classification == "local_minimum_like" and m.minimum_ratio == 1.0
    assert m.escape is None
    assert answers(m) == {
        "gradient_norm_small": "yes",
        "hessian_negative_eigenvalue": "no",
        "learning_rate_exceeds_stability": "unsure",  # no optimizer given
    }


def test_large_gradient_is_not_a_critical_point() -> None:
    x, y = lecture_data()
    m = measure_curvature(Useless(0.5, 0.5), nn.MSELoss(), (x, y))
    # L = (1 - w1 w2)^2, dL/dw1 = -2 (1 - w1 w2) w2 = -0.75 at (0.5, 0.5)
    assert m.gradient_norm == pytest.approx(math.hypot(0.75, 0.75))
    assert m.classification == "not_at_critical_point"
    assert answers(m)["gradient_norm_small"] == "no"
    assert m.rules[0].startswith("gradient norm 1.06")


def test_thresholds_are_settable_and_visible() -> None:
    x, y = lecture_data()
    m = measure_curvature(
        Useless(0.5, 0.5), nn.MSELoss(), (x, y), gradient_threshold=2.0, negative_threshold=0.9
    )
    assert m.classification in ("saddle_point", "local_minimum_like")  # 1.06 < 2 counts as zero now
    d = m.to_dict()
    assert d["thresholds"]["gradient"] == 2.0 and d["thresholds"]["negative"] == 0.9
    assert any("gradient_threshold 2" in r for r in m.rules)
    assert any("negative_threshold 0.9" in r for r in m.rules)


# -- Lanczos path, modes, data forms, model state ---------------------------------------------------


def test_lanczos_path_reports_estimate_and_convergence() -> None:
    model = mlp(0, (5, 10, 8, 3))
    x, y = classification_data(60, (5,), 3)
    exact = measure_curvature(model, nn.CrossEntropyLoss(), (x, y))
    approx = measure_curvature(
        model, nn.CrossEntropyLoss(), (x, y), exact_limit=0, max_hvp=200, tolerance=1e-8
    )
    radius = max(abs(exact.lambda_max), abs(exact.lambda_min))
    assert approx.converged and approx.method == "lanczos"
    assert approx.lambda_max == pytest.approx(exact.lambda_max, abs=1e-6 * radius)
    assert approx.lambda_min == pytest.approx(exact.lambda_min, abs=1e-6 * radius)
    assert exact.to_dict()["minimum_ratio_exact"] is True
    assert approx.to_dict()["minimum_ratio_exact"] is False
    assert any("ESTIMATE" in r for r in approx.rules)
    assert any("estimate" in w for w in approx.warnings)
    assert approx.hvp_count == approx.lanczos.iterations < exact.hvp_count == exact.parameters


def test_unconverged_lanczos_without_negative_ritz_value_is_undetermined() -> None:
    # a positive definite quadratic in 300 parameters, 2 products: no verdict on lambda_min's sign
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(300, 300, generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(0.1, 5.0, 300, dtype=torch.float64)) @ q.T

    class Bowl(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.theta = nn.Parameter(torch.zeros(300, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0.5 * self.theta @ a @ self.theta + 0 * x.sum()

    m = measure_curvature(Bowl(), lambda out, _: out, lecture_data(), exact_limit=10, max_hvp=2)
    assert m.converged is False and m.hessian_negative is None
    assert m.classification == "undetermined"
    assert answers(m)["hessian_negative_eigenvalue"] == "unsure"
    assert any("did not converge" in w for w in m.warnings)


def test_measurement_leaves_the_model_as_it_was() -> None:
    model = nn.Sequential(batchnorm_net(0), nn.Dropout(0.3)).double()
    x, y = classification_data(32, (4,), 2)
    model.train()
    with torch.no_grad():
        model(x)
    params = [p.detach().clone() for p in model.parameters()]
    buffers = [b.detach().clone() for b in model.buffers()]
    rng = torch.random.get_rng_state()
    for mode in ("eval", "train"):
        measure_curvature(model, nn.CrossEntropyLoss(), (x, y), mode=mode, batch_size=16)
    assert all(m.training for m in model.modules())
    assert all(torch.equal(a, p) for a, p in zip(params, model.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(rng, torch.random.get_rng_state())


def test_train_mode_is_a_different_function_and_reproducible() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 2)).double()
    x, y = classification_data(40, (4,), 2)
    ev = measure_curvature(model, nn.CrossEntropyLoss(), (x, y), mode="eval")
    tr1 = measure_curvature(model, nn.CrossEntropyLoss(), (x, y), mode="train")
    tr2 = measure_curvature(model, nn.CrossEntropyLoss(), (x, y), mode="train")
    assert (tr1.lambda_max, tr1.lambda_min, tr1.gradient_norm) == (
        tr2.lambda_max,
        tr2.lambda_min,
        tr2.gradient_norm,
    )
    assert tr1.lambda_max != pytest.approx(ev.lambda_max, rel=1e-3)
    assert tr1.mode == "train" and ev.mode == "eval"
    assert any("dropout masks are held fixed" in w for w in tr1.warnings)


def test_dataloader_and_tensors_measure_the_same_loss() -> None:
    model = mlp(2)
    x, y = classification_data(48, (5,), 3)
    direct = measure_curvature(model, nn.CrossEntropyLoss(), (x, y), samples=40)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)
    via_loader = measure_curvature(model, nn.CrossEntropyLoss(), loader, samples=40)
    assert via_loader.samples == direct.samples == 40
    assert via_loader.gradient_norm == pytest.approx(direct.gradient_norm, rel=1e-12)
    assert via_loader.lambda_min == pytest.approx(direct.lambda_min, rel=1e-10)
    assert any("first 40 of 48" in w for w in direct.warnings)


def test_bad_inputs_are_one_line_probe_errors() -> None:
    x, y = lecture_data()
    with pytest.raises(ProbeError, match="mode must be"):
        measure_curvature(Useless(), nn.MSELoss(), (x, y), mode="inference")
    with pytest.raises(ProbeError, match="gradient_threshold must be positive"):
        measure_curvature(Useless(), nn.MSELoss(), (x, y), gradient_threshold=0)
    with pytest.raises(ProbeError, match=r"the loss at the measured point is nan"):
        measure_curvature(Useless(), nn.MSELoss(), (x * float("nan"), y))
    with pytest.raises(ProbeError, match="model forward failed"):
        measure_curvature(mlp(0), nn.CrossEntropyLoss(), classification_data(8, (4,), 3))


def test_layer_without_second_derivative_is_a_probe_error() -> None:
    class Distances(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.centers = nn.Parameter(torch.randn(3, 2, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -torch.cdist(x, self.centers)

    x, y = classification_data(10, (2,), 3)
    with pytest.raises(ProbeError, match="no second derivative") as err:
        measure_curvature(Distances(), nn.CrossEntropyLoss(), (x, y))
    assert "\n" not in str(err.value)


# -- the probe on a trained setup -------------------------------------------------------------------


def test_registry_options_match_the_function_defaults() -> None:
    # one declaration (issue 13): the probe's defaults are CurvatureOptions' (test_curvature_options.py)
    from probes.curvature.options import CurvatureOptions

    defaults = CurvatureOptions()
    for option in PROBES["curvature"].options:
        assert getattr(defaults, option.name) == option.default, option.name


def test_probe_on_a_trained_setup() -> None:
    events: list[ProbeProgress] = []
    ctx = ProbeContext(load_setup(f"{SETUPS}/tiny_regression.py:setup"), progress=events.append)
    outcome = run_probe("curvature", ctx)
    assert set(outcome.answers) == {
        "gradient_norm_small",
        "hessian_negative_eigenvalue",
        "learning_rate_exceeds_stability",
    }
    assert set(outcome.data) >= REQUIRED_KEYS
    json.dumps(outcome.data)  # JSON-safe
    assert outcome.data["learning_rate"] == 0.05
    assert outcome.data["stability"]["optimizer"] == "SGD" and outcome.data["stability"]["momentum"] == 0.5
    assert outcome.data["stability_limit"] == pytest.approx(3.0 / outcome.data["lambda_max"])
    assert any(r.startswith("gradient norm") and "gradient_threshold 0.001" in r for r in outcome.rules)
    assert outcome.summary
    curvature_events = [e for e in events if e.probe == "curvature"]
    assert curvature_events and "lambda_min" in curvature_events[-1].estimate
    # a second run reuses the trained model: the recipe is trained once per context
    again = run_probe("curvature", ctx, mode="train", exact_limit=0, max_hvp=30)
    assert ctx.trainings == 1
    assert again.data["mode"] == "train" and again.data["minimum_ratio_exact"] is False


def test_probe_stability_answers_for_sgd_and_adam() -> None:
    fast = curvature_probe(ProbeContext(load_setup(f"{SETUPS}/tiny_regression.py:too_fast")))
    assert fast.data["learning_rate"] == 3.0
    assert fast.data["learning_rate"] > fast.data["stability_limit"]
    assert fast.answers["learning_rate_exceeds_stability"] == "yes"
    adam = curvature_probe(ProbeContext(load_setup(f"{SETUPS}/tiny_regression.py:adam")))
    assert adam.answers["learning_rate_exceeds_stability"] == "unsure"
    assert any("Adam rescales each coordinate" in r for r in adam.rules)


def test_probe_on_the_lecture_saddle_setup() -> None:
    outcome = curvature_probe(ProbeContext(load_setup(f"{SETUPS}/lecture_saddle.py:setup")))
    assert outcome.data["classification"] == "saddle_point"
    assert outcome.data["eigenvalues"] == [-2.0, 2.0]
    assert outcome.data["escape"]["lowers_loss"] is True
    assert outcome.answers["gradient_norm_small"] == "yes"
    assert outcome.answers["hessian_negative_eigenvalue"] == "yes"
    assert outcome.summary.startswith("Saddle point")


def test_probe_can_be_cancelled_between_iterations() -> None:
    stop = {"now": False}
    ctx = ProbeContext(load_setup(f"{SETUPS}/tiny_regression.py:setup"), should_stop=lambda: stop["now"])
    ctx.trained()
    stop["now"] = True
    with pytest.raises(ProbeCancelled):
        curvature_probe(ctx)
