"""`--executor ray`: the Hessian-vector products on Ray actors (a real local Ray, 2 CPUs).

Ground truth: (1) the same measurement in this process alone (itself checked against
torch.autograd.functional.hessian in test_curvature_decide.py): the actors sum the same per-batch
products in another order, so float64 extremes agree within 1e-10 relative; (2) the lecture's
saddle y = w1*w2*x at (0, 0), whose Hessian [[0, -2], [-2, 0]] has eigenvalues exactly -2 and +2
(its model class comes from a setup FILE, which the workers cannot import: it must travel by value).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from probes.base import ProbeCancelled, ProbeError
from probes.context import ProbeContext
from probes.curvature import measure_curvature
from probes.registry import run_probe
from probes.setup import load_setup
from tests.probes.conftest import SETUPS, start_local_ray

ray = pytest.importorskip("ray", reason="Ray is optional (pip install ray): the Ray executor is not tested")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    start_local_ray(ray)
    yield
    ray.shutdown()


def problem() -> tuple[nn.Module, nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(230, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (230,), generator=g)
    return model, nn.CrossEntropyLoss(), (x, y)


def test_ray_actors_match_one_process() -> None:
    model, loss, data = problem()
    # 6 batches of 40 (the last 30) on 2 actors: uneven shares
    options: dict[str, Any] = {"samples": "all", "batch_size": 40, "exact_limit": 0, "tolerance": 1e-8}
    here = measure_curvature(model, loss, data, **options)
    there = measure_curvature(model, loss, data, executor="ray", workers=2, **options)
    assert there.distributed == {"engine": "ray", "address": "ray", "workers": 2}
    assert here.distributed is None
    assert there.batches == here.batches == 6 and there.samples == here.samples == 230
    assert there.loss == pytest.approx(here.loss, rel=1e-12)
    assert there.gradient_norm == pytest.approx(here.gradient_norm, rel=1e-10)
    assert there.lambda_max == pytest.approx(here.lambda_max, rel=1e-10)
    assert there.lambda_min == pytest.approx(here.lambda_min, rel=1e-10)
    assert there.hvp_count == here.hvp_count
    assert there.batch_spread is not None and here.batch_spread is not None
    assert there.batch_spread["gradient_norm"] == pytest.approx(here.batch_spread["gradient_norm"], rel=1e-10)
    assert there.batch_spread["lambda_min"] == pytest.approx(here.batch_spread["lambda_min"], rel=1e-8)
    # the measurement left the model as it was (the actors work on copies)
    assert all(p.grad is None for p in model.parameters())


def test_a_model_class_from_a_setup_file_travels_and_the_saddle_is_exact() -> None:
    ctx = ProbeContext(load_setup(f"{SETUPS}/lecture_saddle.py:setup"))
    outcome = run_probe("curvature", ctx, executor="ray", workers=2, batch_size=2)
    data = outcome.data
    assert data["distributed"]["engine"] == "ray" and data["batches"] == 2
    assert data["lambda_min"] == pytest.approx(-2.0, abs=1e-12)
    assert data["lambda_max"] == pytest.approx(2.0, abs=1e-12)
    assert data["classification"] == "saddle_point"


def test_cancel_between_products_reaches_the_driver() -> None:
    model, loss, data = problem()
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(ProbeCancelled):
        measure_curvature(
            model, loss, data, samples="all", batch_size=40, exact_limit=0, executor="ray", should_stop=stop
        )


@pytest.mark.parametrize("executor", ["rai", "ray:/host", "cluster"])
def test_a_bad_executor_is_named(executor: str) -> None:
    model, loss, data = problem()
    with pytest.raises(ProbeError) as caught:
        measure_curvature(model, loss, data, executor=executor)
    assert caught.value.field == "executor" and "ray://HOST:PORT" in caught.value.message
