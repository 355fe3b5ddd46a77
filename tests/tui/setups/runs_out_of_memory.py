"""A setup that loads and passes the load check (one forward pass + loss), then fails inside every
probe the way a too-large batch does on a GPU: the loss raises torch's out-of-memory error from its
second call on. Deterministic, so a test can rely on the probe failing."""

import torch
from torch import nn

from probes import Setup

calls = 0


def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    global calls
    calls += 1
    if calls > 1:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return nn.functional.mse_loss(output, target)


def setup() -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return Setup(
        model=lambda depth: nn.Sequential(*[nn.Linear(4, 4) for _ in range(depth)], nn.Linear(4, 1)),
        depth=1,
        train=(x[:192], y[:192]),
        val=(x[192:], y[192:]),
        loss=loss,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.01),
        steps=60,
        batch_size=32,
    )
