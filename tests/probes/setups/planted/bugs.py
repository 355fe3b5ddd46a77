"""Setups with planted bugs, one each; every one must be refused at load with one line.

Each bug is one a user makes; the expected words of the refusal are in test_setup_check.py.
"""

import torch
from torch import nn

from probes import Setup


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, x[:, :1].clone()


def _base(**changes: object) -> Setup:
    fields: dict[str, object] = dict(
        model=lambda depth: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)),
        depth=1,
        train=_data(),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        steps=5,
        batch_size=16,
    )
    fields.update(changes)
    return Setup(**fields)  # type: ignore[arg-type]


def setpu() -> Setup:  # the user's spec says `bugs.py:setup`: a typo in the function name
    return _base()


def good() -> Setup:
    return _base()


def returns_model() -> nn.Module:
    """Returns the model instead of a Setup."""
    return nn.Linear(4, 1)


def model_ignores_shape() -> Setup:
    """The first layer expects 10 inputs; the data has 4."""
    return _base(model=lambda depth: nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 1)))


def model_not_of_depth() -> Setup:
    """`model` is a module instance's factory without a depth parameter."""
    return _base(model=lambda: nn.Linear(4, 1))


def model_returns_tensor() -> Setup:
    return _base(model=lambda depth: torch.zeros(4, 1))


def loss_broadcasts() -> Setup:
    """Targets of shape [n] against outputs [n, 1]: MSELoss broadcasts to [n, n] and only warns."""
    x, y = _data()
    return _base(train=(x, y.view(-1)))


def cross_entropy_float_targets() -> Setup:
    """Cross-entropy on 3 classes with the regression targets of shape [n, 1]."""
    return _base(
        model=lambda depth: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)),
        loss=nn.CrossEntropyLoss(),
    )


def loss_not_scalar() -> Setup:
    return _base(loss=nn.MSELoss(reduction="none"))


def nan_in_data() -> Setup:
    x, y = _data()
    x[0, 0] = float("nan")
    return _base(train=(x, y))


def optimizer_wrong() -> Setup:
    """Passes the optimizer class's instance-free call by mistake."""
    return _base(optimizer=lambda params: 0.05)
