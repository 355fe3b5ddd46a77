"""A correct setup that imports a module next to it, as `python uses_sibling.py` would allow."""

import torch
from helpers_for_setup import make_data
from torch import nn

from probes import Setup


def setup() -> Setup:
    return Setup(
        model=lambda depth: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)),
        depth=1,
        train=make_data(),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        steps=5,
        batch_size=16,
    )
