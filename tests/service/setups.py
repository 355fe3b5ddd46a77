"""Setups the service tests register on their servers: real (tiny) PyTorch training, and misbehaving
setups whose probes raise, hang, exhaust memory or kill their own process."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import torch
from torch import nn

from probes.setup import Setup


def _data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    return x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=gen)


def _mlp(depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    size = 4
    for _ in range(depth):
        layers += [nn.Linear(size, 16), nn.Tanh()]
        size = 16
    return nn.Sequential(*layers, nn.Linear(size, 1), nn.Flatten(0))


def _setup(model=_mlp, steps: int = 60, **extra) -> Setup:
    torch.set_num_threads(1)  # the test machine's cores are shared
    return Setup(
        model=model,
        depth=1,
        train=_data(),
        val=_data(128, 1),
        test=_data(128, 2),
        loss=nn.functional.mse_loss,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        steps=steps,
        batch_size=32,
        depths=[1, 2],
        **extra,
    )


def quick() -> Setup:
    """Trains in well under a second."""
    return _setup()


class _Slow(nn.Module):
    """A small model whose every forward pass takes 20 ms: training lasts seconds, progress streams."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02)
        return self.inner(x)


def slow() -> Setup:
    return _setup(model=_Slow, steps=400)


class _Raises(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ZeroDivisionError("the user's forward pass divided by zero")


def raises() -> Setup:
    # forward errors become ProbeErrors in training; the optimizer's step is the user's code unguarded
    class Exploding(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[override]
            raise ZeroDivisionError("the user's optimizer divided by zero")

    return _setup().model_copy(update={"optimizer": lambda params: Exploding(params, lr=0.1)})


class _Hangs(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while True:  # never checks should_stop(): only a kill ends it
            time.sleep(0.5)


def hangs() -> Setup:
    return _setup(model=_Hangs)


class _Hog(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hoard = []
        for _ in range(48):  # at most 3 GiB, so a broken limit could not take the machine down
            hoard.append(bytearray(64 * 1024 * 1024))
        return self.inner(x) + 0 * len(hoard)


def hog() -> Setup:
    return _setup(model=_Hog)


class _Dies(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        return self.inner(x)


def dies() -> Setup:
    return _setup(model=_Dies)


class _HoldsTheLock(nn.Module):
    """Stuck in C code that never releases the interpreter lock: a Python watchdog thread never runs."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # catastrophic backtracking in `re` (C, lock held): about 2**40 steps, far longer than any test
        re.match(r"(a+)+$", "a" * 40 + "b")
        return self.inner(x)


def holds_the_lock() -> Setup:
    return _setup(model=_HoldsTheLock)


class _Chatty(nn.Module):
    """Prints 200 MB, then its last words, then exits without a result."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.inner = _mlp(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        line = "x" * (1 << 20) + "\n"
        for _ in range(200):
            sys.stdout.write(line)
        sys.stdout.write("the last words\n")
        sys.stdout.flush()
        os._exit(7)


def chatty() -> Setup:
    return _setup(model=_Chatty)
