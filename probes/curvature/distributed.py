"""Data-parallel Hessian-vector products with torch.distributed (issue 18, first step).

Each rank takes its share of the batches (batch i goes to rank i mod world size), computes the
sample-weighted products and gradient of its share with `PiecewiseHessianOperator`, and the shares
are summed by `all_reduce`; every rank then holds the whole data set's H v and runs the same
Lanczos (same seed, same numbers), so the result is the one-process result up to the order of
floating-point sums. Launch with `torchrun --nproc-per-node N` (or any initialized process group:
gloo on CPUs, nccl on GPUs).

Not yet wired into `traindoc probe curvature` (no CLI flag): use it from Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

from probes.base import ProbeError
from probes.hessian import PiecewiseHessianOperator


class DistributedHessianOperator:
    """H v over all ranks' batches; the interface of `HessianOperator` (dim, dtype, device, names,
    params, gradient, loss, hvp_count, __call__, release), usable by `lanczos`."""

    def __init__(
        self,
        pieces: Sequence[Callable[[], torch.Tensor]],
        sizes: Sequence[int],
        named_parameters: Sequence[tuple[str, torch.Tensor]],
        *,
        graph: str = "auto",
        group: dist.ProcessGroup | None = None,
    ) -> None:
        if not dist.is_available() or not dist.is_initialized():
            raise ProbeError("torch.distributed is not initialized: launch with torchrun")
        self.group = group
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        if len(pieces) < world:
            raise ProbeError(
                f"{len(pieces)} batches for {world} processes: every process needs a batch (lower batch_size)",
                field="batch_size",
            )
        mine = [i for i in range(len(pieces)) if i % world == rank]
        total = sum(sizes)
        self.local = PiecewiseHessianOperator(
            [pieces[i] for i in mine], [sizes[i] for i in mine], named_parameters, graph=graph
        )
        self.share = sum(sizes[i] for i in mine) / total  # this rank's samples / all samples
        self.names, self.params = self.local.names, self.local.params
        self.dim, self.dtype, self.device = self.local.dim, self.local.dtype, self.local.device
        self.skipped = self.local.skipped
        gradient = self.local.gradient.double() * self.share
        loss = torch.tensor([self.local.loss * self.share], dtype=torch.float64, device=self.device)
        dist.all_reduce(gradient, group=group)
        dist.all_reduce(loss, group=group)
        self.gradient = gradient.to(self.dtype)
        self.loss = float(loss)
        self.world = world
        self.hvp_count = 0

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        self.hvp_count += 1
        product = self.local(vector) * self.share
        dist.all_reduce(product, group=self.group)
        return product

    def release(self) -> None:
        self.local.release()
