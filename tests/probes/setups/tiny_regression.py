"""A small, healthy regression setup: an MLP of a few hundred parameters trained briefly with SGD."""

import torch
from torch import nn

from probes import Setup


def _model(depth: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(3, 12), nn.Tanh()]
    for _ in range(max(0, depth - 1)):
        layers += [nn.Linear(12, 12), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(12, 1))


def setup() -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = (x[:, :1] * x[:, 1:2] + torch.sin(x[:, 2:3])).detach()
    return Setup(
        model=_model,
        depth=2,
        train=(x, y),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.5),
        steps=60,
        batch_size=32,
    )


def adam() -> Setup:
    s = setup()
    return s.model_copy(update={"optimizer": lambda params: torch.optim.Adam(params, lr=1e-2)})


def too_fast() -> Setup:
    """Plain SGD with a step far above 2 / lambda_max (but few enough steps not to blow up to NaN)."""
    s = setup()
    return s.model_copy(update={"optimizer": lambda params: torch.optim.SGD(params, lr=3.0), "steps": 1})
