"""The lecture's "most useless network" y = w1 * w2 * x with x = 1, target 1, started at (0, 0).

The gradient there is exactly zero, so gradient descent never moves: training stops at the saddle.
"""

import torch
from torch import nn

from probes import Setup


class Useless(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.w2 = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1 * self.w2 * x


def setup() -> Setup:
    x = torch.ones(4, dtype=torch.float64)
    return Setup(
        model=lambda depth: Useless(),
        depth=0,
        train=(x, torch.ones(4, dtype=torch.float64)),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        steps=5,
        batch_size=4,
    )
