"""Curvature options are declared once (issue 13): `CurvatureOptions` is what the CLI offers, what the
service bounds, what the probe and `measure_curvature` accept, and the old import paths still work.

Ground truth: the argparse parser the real CLI builds, the service's real OPTION_BOUNDS table and the
functions' real signatures, compared with the dataclass's fields; the validation table below is
written by hand (every invalid value of every option, each naming its own field).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
from typing import Any

import pytest
from torch import nn

from assistant.api.probe_jobs import OPTION_BOUNDS
from probes.base import ProbeError
from probes.curvature import curvature_probe, measure_curvature
from probes.curvature.options import GOAL_DEFAULTS, CurvatureOptions, front_end_options, service_bounds
from probes.registry import PROBES
from tests.probes.conftest import Useless, lecture_data


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="traindoc probe curvature")
    PROBES["curvature"].add_arguments(parser)
    return parser


def test_the_cli_offers_exactly_the_declared_options() -> None:
    flags = {a.dest for a in _parser()._actions if a.dest != "help"}
    assert flags == {f.name for f in front_end_options()}
    # and nothing else declares them: the registry entry is built from the dataclass
    assert [o.name for o in PROBES["curvature"].options] == [f.name for f in front_end_options()]


def test_explicit_run_defaults_and_user_values_reach_the_probe() -> None:
    given = PROBES["curvature"].add_arguments(argparse.ArgumentParser())
    args = _parser().parse_args(["--samples", "all", "--per-layer", "--max-hvp", "7"])
    assert given(args) == {"goal": "accurate", "samples": "all", "per_layer": True, "max_hvp": 7}
    assert CurvatureOptions.of(**given(args)).resolved().tolerance == GOAL_DEFAULTS["accurate"].tolerance


def test_service_bounds_are_the_declared_ones() -> None:
    ours = {name: bounds for (probe, name), bounds in OPTION_BOUNDS.items() if probe == "curvature"}
    assert ours == service_bounds()
    assert set(ours) <= {f.name for f in front_end_options()}


def test_functions_take_the_options_model_not_their_own_copies() -> None:
    fields = {f.name for f in dataclasses.fields(CurvatureOptions)}
    for function in (curvature_probe, measure_curvature):
        params = set(inspect.signature(function).parameters)
        assert not params & fields, (function.__name__, params & fields)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("goal", "fast"),
        ("mode", "test"),
        ("graph", "keep"),
        ("samples", 0),
        ("samples", -3),
        ("samples", "some"),
        ("batch_size", 0),
        ("gradient_threshold", 0.0),
        ("negative_threshold", -1.0),
        ("tolerance", 0.0),
        ("max_hvp", 1),
        ("exact_limit", -1),
        ("density_vectors", 1),
        ("no_such_option", 1),
    ],
)
def test_every_invalid_value_names_its_option(option: str, value: Any) -> None:
    with pytest.raises(ProbeError) as caught:
        CurvatureOptions.of(**{option: value}).validate()
    assert caught.value.field == option
    assert "\n" not in caught.value.message
    # the notebook API checks the same way, before computing anything
    with pytest.raises(ProbeError) as again:
        measure_curvature(Useless(), nn.MSELoss(), lecture_data(), **{option: value})
    assert again.value.field == option


@pytest.mark.parametrize("goal", sorted(GOAL_DEFAULTS))
def test_goal_defaults_fill_only_what_was_not_given(goal: str) -> None:
    r = CurvatureOptions(goal=goal).resolved()
    d = GOAL_DEFAULTS[goal]
    assert (r.max_hvp, r.exact_limit, r.tolerance) == (d.max_hvp, d.exact_limit, d.tolerance)
    r = CurvatureOptions(goal=goal, max_hvp=9, exact_limit=0, tolerance=0.5).resolved()
    assert (r.max_hvp, r.exact_limit, r.tolerance) == (9, 0, 0.5)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("probes.hessian", "probes.curvature.hessian"),
        ("probes.measure", "probes.curvature.measure"),
        ("probes.curvature_report", "probes.curvature.report"),
        ("probes.spectrum", "probes.curvature.spectrum"),
        ("probes.distributed", "probes.curvature.distributed"),
    ],
)
def test_old_import_paths_are_the_new_modules(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_an_options_object_and_keywords_give_the_same_measurement() -> None:
    a = measure_curvature(
        Useless(), nn.MSELoss(), lecture_data(), CurvatureOptions(goal="decide", exact_limit=0)
    )
    b = measure_curvature(Useless(), nn.MSELoss(), lecture_data(), goal="decide", exact_limit=0)
    assert (a.lambda_min, a.lambda_max, a.hvp_count, a.goal) == (
        b.lambda_min,
        b.lambda_max,
        b.hvp_count,
        "decide",
    )


@pytest.mark.parametrize("graph", ["retain", "recompute"])
def test_batch_quotients_match_each_batchs_exact_hessian(graph: str) -> None:
    """u^T H_b u per batch without keeping one product per batch (memory: issue 18). Ground truth:
    torch.autograd.functional.hessian of each batch's loss over the flat parameters."""
    import torch
    from torch.func import functional_call

    from probes.curvature.hessian import PiecewiseHessianOperator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    x = torch.randn(50, 3, dtype=torch.float64)
    y = torch.randn(50, 1, dtype=torch.float64)
    loss = nn.MSELoss()
    xs, ys = x.split(20), y.split(20)  # 20, 20, 10
    pieces = [lambda xb=xb, yb=yb: loss(model(xb), yb) for xb, yb in zip(xs, ys, strict=True)]
    op = PiecewiseHessianOperator(pieces, [len(b) for b in xs], list(model.named_parameters()), graph=graph)
    u = torch.randn(op.dim, dtype=torch.float64)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def batch_loss(flat: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        parts = flat.split([s.numel() for s in shapes])
        params = {n: t.view(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return loss(functional_call(model, params, (xb,)), yb)

    expected = []
    for xb, yb in zip(xs, ys, strict=True):
        h = torch.autograd.functional.hessian(lambda f, xb=xb, yb=yb: batch_loss(f, xb, yb), flat0)
        expected.append(float(u @ h @ u))
    assert op.per_batch_quotients(u) == pytest.approx(expected, rel=1e-10)
