"""Tiny models and brute-force references for the curvature tests.

The reference Hessian is `torch.autograd.functional.hessian` of the loss as a function of ONE flat
parameter vector (through `torch.func.functional_call`): a different code path from the probe's
Hessian-vector products, so agreement means something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.func import functional_call

SETUPS = Path(__file__).resolve().parent / "setups"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # the machine's two cores are shared by the whole team
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Useless(nn.Module):
    """The lecture's "most useless network": y = w1 * w2 * x."""

    def __init__(self, w1: float = 0.0, w2: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.tensor(w2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1 * self.w2 * x


def lecture_data() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)


def mlp(seed: int = 0, sizes: tuple[int, ...] = (5, 8, 6, 3), act: type[nn.Module] = nn.Tanh) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1]).double()


def cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.Tanh(),
        nn.Conv2d(3, 2, 3, stride=2),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(2 * 2 * 2, 3),
    ).double()


def batchnorm_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 6),
        nn.BatchNorm1d(6),
        nn.Tanh(),
        nn.Linear(6, 5),
        nn.BatchNorm1d(5),
        nn.Tanh(),
        nn.Linear(5, 2),
    ).double()


def classification_data(
    n: int, shape: tuple[int, ...], classes: int, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g, dtype=torch.float64), torch.randint(
        0, classes, (n,), generator=g
    )


def reference_hessian(
    model: nn.Module, loss_fn: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The full Hessian by torch.autograd.functional.hessian over a flat parameter vector."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in model.named_parameters() if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters() if p.requires_grad])

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        pieces = theta.split([s.numel() for s in shapes])
        params = {n: piece.view(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat)


def start_local_ray(ray: Any, attempts: int = 3) -> None:
    """A local Ray for the executor tests, started again up to `attempts` times: on a loaded machine
    Ray's own start can time out (ray-project/ray#65983, docs/curvature.md), which says nothing about
    traindoc. A start that fails every time still fails the test (CI installs Ray to test it)."""
    import time

    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts:
                raise
            time.sleep(5 * attempt)
