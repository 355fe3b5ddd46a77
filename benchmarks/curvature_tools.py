"""Side by side in one process: traindoc's goals vs PyHessian, hessian-eigenthings and BackPACK.

Used by bench_curvature.py (`--compare`). Each tool runs on the same trained model, the same samples,
interleaved in one process; products are counted by wrapping each tool's own product function.
Peak memory is the resident-set growth during the run, sampled every 2 ms by a thread (CPU; the
allocator's cache makes it a lower bound for the second and later runs, so each tool's row is
measured after a warm-up of the same tool).
"""

from __future__ import annotations

import importlib
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from probes.measure import measure_curvature

TARGET = 1e-3


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_rss(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak RSS growth in bytes) of fn()."""
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        out = fn()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
    return out, seconds, max(0, max(peak[0], _rss()) - base)


def rel(value: float | None, reference: float) -> float | None:
    return None if value is None else abs(value - reference) / abs(reference)


def compare(
    model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, ref: Any
) -> list[dict[str, Any]]:
    """One row per tool and mode. `ref`: a converged reference run (lambda_max, lambda_min)."""
    rows: list[dict[str, Any]] = []
    radius = max(abs(ref.lambda_max), abs(ref.lambda_min))
    truth = "saddle_point" if ref.lambda_min < -1e-3 * radius else "local_minimum_like"
    model.eval()

    def ours(label: str, **options: Any) -> None:
        run = lambda: measure_curvature(model, loss_fn, (x, y), samples=None, exact_limit=0, **options)  # noqa: E731
        run()  # warm-up
        m, seconds, peak = peak_rss(run)
        rows.append(
            {
                "tool": "traindoc",
                "mode": label,
                "hvp": m.hvp_count,
                "seconds": seconds,
                "peak_bytes": peak,
                "lambda_max_error": rel(m.lambda_max, ref.lambda_max),
                "lambda_min_error": rel(m.lambda_min, ref.lambda_min) if m.lambda_min_computed else None,
                "decision": m.classification,
                "decision_right": m.classification == "not_at_critical_point" or m.classification == truth,
                "graph": m.graph,
                "batches": m.batches,
            }
        )

    ours("decide, not critical (the diagnosis)", goal="decide")
    # the same point treated as critical (gradient threshold above its gradient norm): what deciding
    # saddle vs minimum costs on this real spectrum
    ours("decide, saddle vs minimum", goal="decide", gradient_threshold=1e6)
    ours("accurate (traindoc probe curvature)", goal="accurate")
    ours("accurate, recomputed batches of 256", goal="accurate", graph="recompute")
    rows += pyhessian_rows(model, loss_fn, x, y, ref)
    rows += eigenthings_rows(model, loss_fn, x, y, ref)
    rows += backpack_rows(model, loss_fn, x, y)
    return rows


def pyhessian_rows(
    model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, ref: Any
) -> list[dict[str, Any]]:
    try:
        ph = importlib.import_module("pyhessian.hessian")
    except ImportError:
        return [{"tool": "PyHessian", "mode": "not installed"}]
    rows = []
    count = {"hvp": 0}
    original = ph.hessian_vector_product

    def counted(*args: Any) -> Any:
        count["hvp"] += 1
        return original(*args)

    loader = DataLoader(TensorDataset(x, y), batch_size=256)
    for mode, kwargs in (
        ("one batch", {"data": (x, y)}),
        ("data loader, batches of 256", {"dataloader": loader}),
    ):

        def run(kwargs: dict[str, Any] = kwargs) -> float:
            h = ph.hessian(model, loss_fn, cuda=False, **kwargs)
            values, _ = h.eigenvalues(maxIter=100, tol=TARGET, top_n=1)
            for p in model.parameters():
                p.grad = None  # it leaves graph-carrying .grad behind
            return float(values[0])

        ph.hessian_vector_product = counted
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
                count["hvp"] = 0
                top, seconds, peak = peak_rss(run)
        finally:
            ph.hessian_vector_product = original
        hvp = count["hvp"]
        if mode != "one batch":
            hvp = None  # its data-loader mode computes products itself, not through the counted function
        rows.append(
            {
                "tool": "PyHessian 0.1",
                "mode": f"power iteration, {mode}",
                "hvp": hvp,
                "seconds": seconds,
                "peak_bytes": peak,
                "lambda_max_error": rel(top, ref.lambda_max),
                "lambda_min_error": None,
                "decision": "cannot (largest magnitude only)",
                "decision_right": None,
            }
        )
    return rows


def eigenthings_rows(
    model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, ref: Any
) -> list[dict[str, Any]]:
    try:
        he = importlib.import_module("hessian_eigenthings")
    except ImportError:
        return [{"tool": "hessian-eigenthings", "mode": "not installed"}]
    rows = []
    loader = [(x, y)]

    def loss(m: nn.Module, batch: Any) -> torch.Tensor:
        return loss_fn(m(batch[0]), batch[1])

    for which, key in (("LA", "lambda_max"), ("SA", "lambda_min")):

        def run(which: str = which) -> tuple[float, int]:
            op = he.HessianOperator(model, loader, loss)
            calls = {"n": 0}
            original = op.matvec

            def counted(v: torch.Tensor) -> torch.Tensor:
                calls["n"] += 1
                return original(v)

            op.matvec = counted  # type: ignore[method-assign]
            result = he.lanczos(op, k=1, max_iter=150, tol=TARGET, which=which, seed=0, reorthogonalize=True)
            return float(result.eigenvalues[0]), calls["n"]

        run()
        (value, calls), seconds, peak = peak_rss(run)
        rows.append(
            {
                "tool": f"hessian-eigenthings {he.__version__}",
                "mode": f"Lanczos which={which} ({key}), 150 steps, tol 1e-3",
                "hvp": calls,
                "seconds": seconds,
                "peak_bytes": peak,
                "lambda_max_error": rel(value, ref.lambda_max) if key == "lambda_max" else None,
                "lambda_min_error": rel(value, ref.lambda_min) if key == "lambda_min" else None,
                "decision": "one end per run",
                "decision_right": None,
            }
        )
    return rows


def backpack_rows(
    model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> list[dict[str, Any]]:
    try:
        hvp_mod = importlib.import_module("backpack.hessianfree.hvp")
        from importlib.metadata import version as package_version

        version = package_version("backpack-for-pytorch")
    except Exception:  # ImportError, or its metadata missing
        return [{"tool": "BackPACK", "mode": "not installed"}]
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn_like(p) for p in params]
    hvp_mod.hessian_vector_product(loss, params, v, grad_params=grads, detach=False)
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        hvp_mod.hessian_vector_product(loss, params, v, grad_params=grads, detach=False)
    seconds = (time.perf_counter() - start) / repeats
    return [
        {
            "tool": f"BackPACK {version}",
            "mode": "hessianfree.hessian_vector_product (no eigensolver of the full Hessian)",
            "hvp": 1,
            "seconds": seconds,
            "peak_bytes": None,
            "lambda_max_error": None,
            "lambda_min_error": None,
            "decision": "no eigensolver",
            "decision_right": None,
        }
    ]


def markdown(model: str, rows: list[dict[str, Any]]) -> str:
    def fmt(v: Any, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    out = [
        f"**{model}**",
        "",
        "| tool | mode | products | seconds | peak RSS growth | λ_max error | λ_min error | decision |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "hvp" not in r:
            out.append(f"| {r['tool']} | {r['mode']} | | | | | | |")
            continue
        peak = None if r["peak_bytes"] is None else r["peak_bytes"] / 2**20
        out.append(
            f"| {r['tool']} | {r['mode']} | {fmt(r['hvp'], 'd')} | {r['seconds']:.2f} | "
            f"{fmt(peak, '.0f')}{'' if peak is None else ' MiB'} | {fmt(r['lambda_max_error'], '.1e')} | "
            f"{fmt(r['lambda_min_error'], '.1e')} | {r['decision']} |"
        )
    return "\n".join(out)
