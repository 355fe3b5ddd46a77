"""A setup whose training cannot end before a test cancels it: a billion steps of a tiny regression
(at ~10,000 steps a second, more than a day; the job's own timeout is 30 min). The probes check
`should_stop()` before every step, so a cancel is seen at the next step — the real cancel path, with
no race against the probe finishing first on a loaded machine."""

import torch
from torch import nn

from probes import Setup

STEPS = 1_000_000_000


def setup() -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return Setup(
        model=lambda depth: nn.Sequential(*[nn.Linear(4, 4) for _ in range(depth)], nn.Linear(4, 1)),
        depth=2,
        train=(x[:192], y[:192]),
        val=(x[192:], y[192:]),
        loss=nn.functional.mse_loss,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.01),
        steps=STEPS,
        batch_size=32,
    )
