"""tiny_regression in float64: for comparisons at float64 round-off (several processes vs one)."""

import torch
from torch import nn

from probes import Setup


def _model(depth: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(3, 12), nn.Tanh()]
    for _ in range(max(0, depth - 1)):
        layers += [nn.Linear(12, 12), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(12, 1)).double()


def setup() -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(250, 3, generator=g, dtype=torch.float64)
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
