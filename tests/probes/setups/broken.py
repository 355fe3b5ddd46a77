"""Setups that go wrong in each way a user's setup can: each must end in ONE line, no traceback."""

import torch
from torch import nn

from probes import Setup


def _base(**changes: object) -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    fields: dict[str, object] = dict(
        model=lambda depth: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)),
        depth=1,
        train=(x, x[:, :1].clone()),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        steps=5,
        batch_size=16,
    )
    fields.update(changes)
    return Setup(**fields)  # type: ignore[arg-type]


def shape_mismatch() -> Setup:
    """Inputs have 4 features, the first layer expects 7."""
    return _base(model=lambda depth: nn.Sequential(nn.Linear(7, 8), nn.Tanh(), nn.Linear(8, 1)))


def nan_loss() -> Setup:
    """A NaN in the training targets: the loss is NaN from the first step."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x[:, :1].clone()
    y[3] = float("nan")
    return _base(train=(x, y))


def wrong_type() -> dict:
    return {"model": "not a Setup"}


def raises() -> Setup:
    raise ValueError("could not find the data directory")
