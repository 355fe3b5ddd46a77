"""The curvature measurement on CUDA: same answers as on the CPU (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.context import ProbeContext
from probes.curvature import curvature_probe
from probes.measure import measure_curvature
from probes.setup import load_setup
from tests.probes.conftest import SETUPS, Useless, classification_data, lecture_data, mlp

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("exact_limit", [2000, 0], ids=["exact", "lanczos"])
def test_lecture_saddle_on_cuda(exact_limit: int) -> None:
    x, y = lecture_data()
    m = measure_curvature(Useless().cuda(), nn.MSELoss(), (x.cuda(), y.cuda()), exact_limit=exact_limit)
    assert m.device.startswith("cuda")
    assert m.lambda_max == pytest.approx(2.0, abs=1e-12) and m.lambda_min == pytest.approx(-2.0, abs=1e-12)
    assert m.classification == "saddle_point"
    assert m.escape is not None and m.escape.lowers_loss
    assert m.escape.best.loss == pytest.approx(0.25)


def test_cuda_and_cpu_agree() -> None:
    x, y = classification_data(64, (5,), 3)
    cpu = measure_curvature(
        mlp(0, (5, 12, 12, 3)), nn.CrossEntropyLoss(), (x, y), exact_limit=0, max_hvp=200, tolerance=1e-9
    )
    gpu = measure_curvature(
        mlp(0, (5, 12, 12, 3)).cuda(),
        nn.CrossEntropyLoss(),
        (x.cuda(), y.cuda()),
        exact_limit=0,
        max_hvp=200,
        tolerance=1e-9,
    )
    radius = max(abs(cpu.lambda_max), abs(cpu.lambda_min))
    assert gpu.gradient_norm == pytest.approx(cpu.gradient_norm, rel=1e-9)
    assert gpu.lambda_max == pytest.approx(cpu.lambda_max, abs=1e-7 * radius)
    assert gpu.lambda_min == pytest.approx(cpu.lambda_min, abs=1e-7 * radius)


def test_train_mode_with_dropout_is_reproducible_on_cuda() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 2)).double().cuda()
    x, y = classification_data(40, (4,), 2)
    runs = [
        measure_curvature(model, nn.CrossEntropyLoss(), (x.cuda(), y.cuda()), mode="train") for _ in range(2)
    ]
    assert runs[0].lambda_min == runs[1].lambda_min and runs[0].gradient_norm == runs[1].gradient_norm


def test_probe_runs_on_the_gpu_when_the_setup_says_auto() -> None:
    outcome = curvature_probe(ProbeContext(load_setup(f"{SETUPS}/tiny_regression.py:setup")))
    assert outcome.data["device"].startswith("cuda")
    assert outcome.data["minimum_ratio_exact"] is True
