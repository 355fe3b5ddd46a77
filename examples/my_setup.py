"""An example setup file: how you describe your training to traindoc.

traindoc diagnose --setup examples/my_setup.py:setup
traindoc probe curvature --setup examples/my_setup.py:setup --json
traindoc --setup examples/my_setup.py:setup        # the terminal UI, with "measure it for me"
"""

import torch
from torch import nn

from traindoc import Setup


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] * x[:, 2:3] + 0.05 * torch.randn(n, 1, generator=g)
    return x, y


def build(depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    width, d_in = 64, 10
    for _ in range(depth):
        layers += [nn.Linear(d_in, width), nn.ReLU()]
        d_in = width
    layers.append(nn.Linear(d_in, 1))
    return nn.Sequential(*layers)


def setup() -> Setup:
    x, y = make_data(1536, seed=0)
    return Setup(
        model=build,  # builds the model with `depth` hidden layers
        depth=2,  # the depth you train today
        train=(x[:1024], y[:1024]),
        val=(x[1024:], y[1024:]),  # held out from the training data
        test=make_data(512, seed=1),  # the data the model is judged on
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
        steps=400,
        batch_size=64,
    )
