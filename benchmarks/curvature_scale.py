"""Curvature at scale (issue 18): a ~11M-parameter ResNet-18 and a ~0.3M-parameter CNN on 32x32 images,
traindoc's products side by side with PyHessian's per product in every mode, and the peak memory of
the whole measurement over >= 8,192 samples in batches. Used by `bench_curvature.py --scale`.

Modes compared (the same batches, the same vector, one process, interleaved):
- one graph over one batch: traindoc `HessianOperator` vs PyHessian's `hessian_vector_product` on
  its `data=(x, y)` graph (both build the gradient graph once and reuse it);
- the data set in batches, graphs kept: traindoc `PiecewiseHessianOperator(graph="retain")` (PyHessian
  has no such mode: its data-loader mode always rebuilds);
- the data set in batches, rebuilt at every product: traindoc `graph="recompute"` vs PyHessian's
  `dataloader_hv_product` (the same work: one batch's double-backward graph at a time).
Times are medians of `repeats` products after one warm-up product; the machine is shared (2 cores,
several engineers' jobs), so the RATIO of the two tools measured back to back is the figure to read.

The data are synthetic 32x32x3 images labelled by a random teacher (time and memory do not depend
on the labels; no data set of that size ships offline here). The models are measured where they are
initialized (training a ResNet-18 on 2 CPU cores is out of this benchmark's time).
"""

from __future__ import annotations

import importlib
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from benchmarks.curvature_tools import peak_rss
from probes.curvature.hessian import HessianOperator, PiecewiseHessianOperator
from probes.curvature.measure import measure_curvature, piece_loss

CLASSES = 10


class Block(nn.Module):
    """ResNet's basic block (He et al. 2016), as in torchvision's resnet18."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.down(x))


def resnet18() -> nn.Module:
    """torchvision's resnet18 layout (7x7 stem, max-pool, [2, 2, 2, 2] blocks), 10 classes: 11,181,642
    parameters. Written out here so the benchmark needs no torchvision."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, CLASSES))


def cnn() -> nn.Module:
    """A plain CNN (conv 32-64-128, max-pools, two dense layers): 0.29M parameters."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 128),
        nn.ReLU(),
        nn.Linear(128, CLASSES),
    )


MODELS: dict[str, Callable[[], nn.Module]] = {"resnet18": resnet18, "cnn": cnn}


def images(samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 3, 32, 32, generator=g)
    teacher = torch.randn(3 * 32 * 32, CLASSES, generator=g)
    return x, (x.flatten(1) @ teacher).argmax(1)


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_product(name: str, samples: int, batch: int, one_batch: int, repeats: int) -> list[dict[str, Any]]:
    """Seconds per Hessian-vector product, traindoc vs PyHessian, mode by mode."""
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    loss_fn = nn.CrossEntropyLoss()
    x, y = images(samples)
    params = [p for p in model.parameters() if p.requires_grad]
    v = torch.randn(sum(p.numel() for p in params), generator=torch.Generator().manual_seed(3))
    rows: list[dict[str, Any]] = []
    try:
        ph = importlib.import_module("pyhessian.hessian")
    except ImportError:
        ph = None

    # one graph over one batch
    xb, yb = x[:one_batch], y[:one_batch]
    ours = HessianOperator(loss_fn(model(xb), yb), list(model.named_parameters()))
    t_ours = _median_seconds(lambda: ours(v), repeats)
    ours.release()
    t_ph = None
    if ph is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = ph.hessian(model, loss_fn, data=(xb, yb), cuda=False)
            vs = [t.view_as(p) for t, p in zip(v.split([p.numel() for p in h.params]), h.params, strict=True)]
            t_ph = _median_seconds(lambda: ph.hessian_vector_product(h.gradsH, h.params, vs), repeats)
            del h
        for p in model.parameters():
            p.grad = None  # PyHessian leaves graph-carrying .grad behind
    rows.append(_row(name, f"one graph, {one_batch} samples", t_ours, t_ph))

    pieces = [
        partial(piece_loss, model, loss_fn, xs, ys, i)
        for i, (xs, ys) in enumerate(zip(x.split(batch), y.split(batch), strict=True))
    ]
    sizes = [len(xs) for xs in x.split(batch)]
    for graph in ("retain", "recompute"):
        op = PiecewiseHessianOperator(pieces, sizes, list(model.named_parameters()), graph=graph)
        t_ours = _median_seconds(lambda op=op: op(v), repeats)
        op.release()
        t_ph = None
        if graph == "recompute" and ph is not None:
            loader = list(zip(x.split(batch), y.split(batch), strict=True))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                h = ph.hessian(model, loss_fn, dataloader=loader, cuda=False)
                vs = [
                    t.view_as(p)
                    for t, p in zip(v.split([p.numel() for p in h.params]), h.params, strict=True)
                ]
                t_ph = _median_seconds(lambda h=h, vs=vs: h.dataloader_hv_product(vs), repeats)
            for p in model.parameters():
                p.grad = None
        label = "graphs kept" if graph == "retain" else "rebuilt per product"
        rows.append(_row(name, f"{samples} samples in batches of {batch}, {label}", t_ours, t_ph))
    return rows


def _row(model: str, mode: str, ours: float, theirs: float | None) -> dict[str, Any]:
    return {
        "model": model,
        "mode": mode,
        "traindoc_seconds": ours,
        "pyhessian_seconds": theirs,
        "ratio": None if theirs is None else ours / theirs,
    }


def whole_measurement(
    name: str, samples: int, batch: int, max_hvp: int, per_layer_hvp: int
) -> dict[str, Any]:
    """`measure_curvature` over all `samples` in batches, graphs rebuilt per product: peak RSS growth
    against one batch's graph and against keeping every batch's graph."""
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    data = images(samples)

    def run() -> Any:
        return measure_curvature(
            model,
            nn.CrossEntropyLoss(),
            data,
            samples="all",
            batch_size=batch,
            graph="recompute",
            exact_limit=0,
            max_hvp=max_hvp,
        )

    m, seconds, peak = peak_rss(run)
    return {
        "model": name,
        "parameters": m.parameters,
        "samples": m.samples,
        "batches": m.batches,
        "graph": m.graph,
        "hvp": m.hvp_count,
        "seconds": seconds,
        "peak_rss_bytes": peak,
        "graph_bytes_per_batch": m.graph_bytes_per_batch,
        "all_graphs_bytes": m.graph_bytes_per_batch * m.batches,
        "lambda_max": m.lambda_max,
        "lambda_min": m.lambda_min,
        "converged": m.converged,
        "residual_max": None if m.lanczos is None else m.lanczos.residual_max,
        "residual_min": None if m.lanczos is None else m.lanczos.residual_min,
    }


def markdown(products: list[dict[str, Any]], whole: list[dict[str, Any]]) -> str:
    out = [
        "| model | mode | traindoc s/product | PyHessian s/product | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in products:
        theirs = "–" if r["pyhessian_seconds"] is None else f"{r['pyhessian_seconds']:.3f}"
        ratio = "– (no such mode)" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        out.append(f"| {r['model']} | {r['mode']} | {r['traindoc_seconds']:.3f} | {theirs} | {ratio} |")
    out += [
        "",
        "| model | parameters | samples | batches | products | seconds | peak RSS growth | one batch's graph | all graphs kept would be | λ_max | λ_min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    mib = 2**20
    for w in whole:
        out.append(
            f"| {w['model']} | {w['parameters']:,} | {w['samples']:,} | {w['batches']} | {w['hvp']} | "
            f"{w['seconds']:.0f} | {w['peak_rss_bytes'] / mib:.0f} MiB | {w['graph_bytes_per_batch'] / mib:.0f} MiB | "
            f"{w['all_graphs_bytes'] / mib:.0f} MiB | {w['lambda_max']:.4g} | {w['lambda_min']:.4g} |"
        )
    return "\n".join(out)
