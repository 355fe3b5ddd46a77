"""Two processes with torch.distributed (gloo, CPU) give the one-process Hessian products and Lanczos.

Ground truth: the same batches in one process through `PiecewiseHessianOperator` (itself checked
against torch.autograd.functional.hessian in test_curvature_decide.py); the two-process products must
agree to float64 round-off, and the Lanczos extremes to 1e-10 relative.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from probes.hessian import PiecewiseHessianOperator, lanczos

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend"),
    pytest.mark.skipif(sys.platform == "win32", reason="gloo over TCP on loopback"),
]


def problem() -> tuple[nn.Module, list, list[int]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(230, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (230,), generator=g)
    xs, ys = x.split(40), y.split(40)  # 6 batches, the last of 30: uneven shares
    loss = nn.CrossEntropyLoss()
    pieces = [lambda xb=xb, yb=yb: loss(model(xb), yb) for xb, yb in zip(xs, ys, strict=True)]
    return model, pieces, [len(b) for b in xs]


def probe_vector(dim: int) -> torch.Tensor:
    return torch.randn(dim, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def worker(rank: int, world: int, port: int, out: str) -> None:
    from probes.distributed import DistributedHessianOperator

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model, pieces, sizes = problem()
        op = DistributedHessianOperator(pieces, sizes, list(model.named_parameters()))
        hv = op(probe_vector(op.dim))
        run = lanczos(op, max_iter=60, tol=1e-10, seed=3)
        if rank == 0:
            Path(out).write_text(
                json.dumps(
                    {
                        "hv": hv.tolist(),
                        "gradient": op.gradient.tolist(),
                        "loss": op.loss,
                        "lambda_max": run.lambda_max,
                        "lambda_min": run.lambda_min,
                        "share": op.share,
                    }
                )
            )
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one(tmp_path: Path) -> None:
    out = tmp_path / "rank0.json"
    mp.spawn(worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    got = json.loads(out.read_text())
    model, pieces, sizes = problem()
    one = PiecewiseHessianOperator(pieces, sizes, list(model.named_parameters()))
    hv = one(probe_vector(one.dim))
    run = lanczos(one, max_iter=60, tol=1e-10, seed=3)
    assert got["share"] == pytest.approx((40 * 3) / 230)  # rank 0 took batches 0, 2, 4
    assert torch.allclose(torch.tensor(got["hv"], dtype=torch.float64), hv, rtol=0, atol=1e-13)
    assert torch.allclose(
        torch.tensor(got["gradient"], dtype=torch.float64), one.gradient, rtol=0, atol=1e-15
    )
    assert got["loss"] == pytest.approx(one.loss, rel=1e-13)
    assert got["lambda_max"] == pytest.approx(run.lambda_max, rel=1e-10)
    assert got["lambda_min"] == pytest.approx(run.lambda_min, rel=1e-10)
