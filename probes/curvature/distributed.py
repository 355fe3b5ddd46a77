"""Data-parallel Hessian-vector products with torch.distributed (issue 18, first step).

Each rank takes its share of the batches (batch i goes to rank i mod world size), computes the
sample-weighted products and gradient of its share with `PiecewiseHessianOperator`, and the shares
are summed by `all_reduce`; every rank then holds the whole data set's H v and runs the same
Lanczos (same seed, same numbers), so the result is the one-process result up to the order of
floating-point sums. Launch with `torchrun --nproc-per-node N` (or any initialized process group:
gloo on CPUs, nccl on GPUs).

From the command line (every rank trains the same recipe; rank 0's parameters are broadcast, so all
ranks measure one model; rank 0 prints):

    torchrun --nproc-per-node 2 -m traindoc probe curvature --setup my_setup.py:setup --distributed --json

From Python: `measure_curvature(..., distributed=True)` inside an initialized process group, or this
operator with `lanczos` directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist

from probes.base import ProbeError
from probes.curvature.hessian import PiecewiseHessianOperator


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
        self.world, self.rank = world, rank
        self.hvp_count = 0
        # what the measurement reports, over ALL ranks' batches
        self.batches, self.sizes = len(pieces), [int(n) for n in sizes]
        self.graph_mode, self.graph_bytes = self.local.graph_mode, self.local.graph_bytes
        self._mine = mine
        self.batch_gradient_norms = self._in_batch_order(self.local.batch_gradient_norms)

    def where(self) -> dict[str, Any]:
        return {
            "engine": "torch.distributed",
            "backend": str(dist.get_backend(self.group)),
            "world_size": self.world,
            "rank": self.rank,
        }

    def _in_batch_order(self, values: Sequence[Any]) -> list[Any]:
        """Every rank's per-batch values, gathered and put back in batch order."""
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, list(zip(self._mine, values, strict=True)), group=self.group)
        return [v for _, v in sorted(pair for part in gathered for pair in part)]

    def per_batch_quotients(self, vector: torch.Tensor) -> list[float]:
        """vector^T H_b vector for every batch, gathered from the ranks in batch order; one product."""
        self.hvp_count += 1
        return self._in_batch_order(self.local.per_batch_quotients(vector))

    def per_batch(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """H_b @ vector for every batch b on its own, gathered from the ranks; counts as one product."""
        self.hvp_count += 1
        products = [p.cpu() for p in self.local.per_batch(vector)]
        return [p.to(self.device) for p in self._in_batch_order(products)]

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        self.hvp_count += 1
        product = self.local(vector) * self.share
        dist.all_reduce(product, group=self.group)
        return product

    def release(self) -> None:
        self.local.release()


def init_from_environment() -> tuple[int, int, str]:
    """The default process group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...):
    nccl when CUDA is there (each rank on its LOCAL_RANK device), else gloo. Returns (rank, world
    size, backend); an already initialized group is used as it is."""
    if not dist.is_available():
        raise ProbeError("this torch build has no torch.distributed", field="distributed")
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise ProbeError(
                "distributed needs torchrun's environment (RANK, WORLD_SIZE): launch with "
                "`torchrun --nproc-per-node N -m traindoc probe curvature ... --distributed`",
                field="distributed",
            )
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), str(dist.get_backend())


def broadcast_model(model: torch.nn.Module, src: int = 0) -> None:
    """Every rank gets rank `src`'s parameters and buffers: the ranks measure ONE model even if their
    trainings differed by a rounding (different thread counts, nondeterministic kernels)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=src)
