"""Helpers the watch tests share: tiny models, and lambda_max computed independently in plain torch."""

from __future__ import annotations

import torch
from torch import nn


def exact_hessian_eigenvalues(model: nn.Module, loss_of) -> torch.Tensor:
    """All eigenvalues of the loss Hessian, from torch.autograd.functional.hessian on the flattened
    parameters (no traindoc code involved): the ground truth for small models."""
    params = [p for p in model.parameters() if p.requires_grad]
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params]).double()
    names = [n for n, p in model.named_parameters() if p.requires_grad]

    def f(flat: torch.Tensor) -> torch.Tensor:
        pieces, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            k = int(torch.Size(s).numel())
            pieces[n] = flat[i : i + k].view(s).to(params[0].dtype)
            i += k
        return loss_of(lambda x: torch.func.functional_call(model, pieces, (x,)))

    h = torch.autograd.functional.hessian(f, flat0)
    return torch.linalg.eigvalsh((h + h.T) / 2)


def mlp(seed: int = 0, inputs: int = 4, hidden: int = 8, outputs: int = 1, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(inputs, hidden), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, outputs))
    return nn.Sequential(*layers)


def regression_data(n: int = 64, inputs: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.05 * torch.randn(n, 1, generator=g)
    return x, y
