"""A sibling module of `uses_sibling.py`: importable because the setup file's folder is."""

import torch


def make_data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, x[:, :1].clone()
