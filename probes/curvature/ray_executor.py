"""Hessian-vector products on Ray (issue 18): `--executor ray` (a local Ray) or `ray://HOST:PORT`.

The batches are shared among Ray actors (batch i to actor i mod workers), each holding a copy of
the model, the loss and its batches and a `PiecewiseHessianOperator` over them; a product sends v to
every actor and sums their sample-weighted shares here. Lanczos, the decision rules, progress and
cancel stay in this process (progress is reported and `should_stop` asked between products, so they
work whatever the cluster). Same batches, same seeds: the result is the one-process result up to the
order of floating-point sums.

Ray is optional: `pip install ray` (a clear error says so when it is missing). The user's model
class is shipped by value when it comes from a setup file the workers cannot import.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from probes.base import ProbeError
from probes.curvature.hessian import PiecewiseHessianOperator

# top-level packages every worker has installed: pickled by reference, never by value
_INSTALLED = {"torch", "probes", "rules", "assistant", "traindoc", "numpy", "functools", "builtins"}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ProbeError(
            "the Ray executor needs Ray: pip install 'ray>=2' (or use --executor local)", field="executor"
        ) from None
    return ray


def connect(address: str) -> Any:
    """Ray, initialized: an existing connection is kept; "ray" starts (or joins) a local Ray and
    "ray://HOST:PORT" connects to a cluster."""
    ray = _ray()
    if not ray.is_initialized():
        # Ray Client warns (a second line) before raising on a timeout: the one line below says it
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if address == "ray":
                    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
                else:
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # Ray raises plain Exceptions (a node that timed out starting, ...)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProbeError(f"cannot start or reach Ray at {address}: {first}", field="executor") from None
    return ray


def _ship_user_modules(objects: Sequence[Any]) -> None:
    """Classes from the user's setup file (loaded from a path, not installed) go by value: the
    model's modules, the loss and the functions the pieces call."""
    from ray import cloudpickle  # Ray's own copy: registering in the standalone package does nothing

    classes: set[type] = set()
    for obj in objects:
        parts = list(obj.modules()) if isinstance(obj, torch.nn.Module) else [obj]
        for part in parts:
            classes.update(type(part).__mro__)
    for cls in classes:
        name = cls.__module__.split(".")[0]
        module = sys.modules.get(cls.__module__)
        if module is None or name in _INSTALLED or name in sys.stdlib_module_names:
            continue
        origin = getattr(module, "__file__", "") or ""
        if "site-packages" in origin or "dist-packages" in origin:
            continue
        # ValueError: already registered, or not a module cloudpickle can ship
        with contextlib.suppress(ValueError):
            cloudpickle.register_pickle_by_value(module)


class _Shard:
    """One actor's batches: the piecewise operator over them, built in the actor."""

    def __init__(self, payload: tuple[Any, ...]) -> None:
        from probes.threads import limit_threads

        limit_threads()
        pieces, sizes, named, graph, indices = payload
        self.indices = list(indices)
        self.op = PiecewiseHessianOperator(pieces, sizes, named, graph=graph)

    def summary(self) -> dict[str, Any]:
        op = self.op
        return {
            "indices": self.indices,
            "names": op.names,
            "skipped": op.skipped,
            "gradient": op.gradient.double().cpu(),
            "loss": op.loss,
            "samples": sum(op.sizes),
            "norms": op.batch_gradient_norms,
            "graph_mode": op.graph_mode,
            "graph_bytes": op.graph_bytes,
        }

    def hvp(self, vector: torch.Tensor) -> torch.Tensor:
        return self.op(vector).cpu()

    def per_batch(self, vector: torch.Tensor) -> list[torch.Tensor]:
        return [p.cpu() for p in self.op.per_batch(vector)]

    def per_batch_quotients(self, vector: torch.Tensor) -> list[float]:
        return self.op.per_batch_quotients(vector)


class RayHessianOperator:
    """H v over the batches of several Ray actors; the interface of `PiecewiseHessianOperator` as the
    measurement uses it (dim, dtype, device, names, params, gradient, loss, skipped, batches, sizes,
    graph_mode, graph_bytes, batch_gradient_norms, hvp_count, __call__, per_batch, release)."""

    def __init__(
        self,
        pieces: Sequence[Callable[[], torch.Tensor]],
        sizes: Sequence[int],
        named_parameters: Sequence[tuple[str, torch.Tensor]],
        *,
        graph: str = "auto",
        address: str = "ray",
        workers: int | None = None,
    ) -> None:
        ray = connect(address)
        self.address = address
        if not pieces:
            raise ProbeError("the data is empty")
        available = int(ray.available_resources().get("CPU", 1)) or 1
        count = max(1, min(workers or available, len(pieces)))
        shares = [[i for i in range(len(pieces)) if i % count == w] for w in range(count)]
        total = sum(sizes)
        # measure_curvature's pieces are partial(piece_loss, model, loss_fn, x, y, seed)
        _ship_user_modules([obj for p in pieces[:1] for obj in (getattr(p, "args", ())[:2] or (p,))])
        remote = ray.remote(num_cpus=1)(_Shard)
        # pieces, parameters and model go in ONE argument per actor so pickling keeps them one model
        self._actors = [
            remote.remote(
                (
                    [pieces[i] for i in share],
                    [sizes[i] for i in share],
                    list(named_parameters),
                    graph,
                    share,
                )
            )
            for share in shares
        ]
        try:
            summaries = ray.get([a.summary.remote() for a in self._actors])
        except Exception as exc:  # a worker's error comes back wrapped: one line for the user
            self.release()
            raise ProbeError(f"a Ray worker could not build its batches' graph: {_first_line(exc)}") from None
        self._ray = ray
        self._weights = [s["samples"] / total for s in summaries]
        kept = set(summaries[0]["names"])
        self.names = [n for n, _ in named_parameters if n in kept]
        self.params = [p for n, p in named_parameters if n in kept]
        self.skipped = list(summaries[0]["skipped"])
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.dim = sum(p.numel() for p in self.params)
        gradient = sum(w * s["gradient"] for w, s in zip(self._weights, summaries, strict=True))
        self.gradient = torch.as_tensor(gradient).to(device=self.device, dtype=self.dtype)
        self.loss = float(sum(w * s["loss"] for w, s in zip(self._weights, summaries, strict=True)))
        self.batches, self.sizes = len(pieces), [int(n) for n in sizes]
        self._order = [i for s in summaries for i in s["indices"]]
        self.batch_gradient_norms = self._in_batch_order([v for s in summaries for v in s["norms"]])
        modes = {s["graph_mode"] for s in summaries}
        self.graph_mode = modes.pop() if len(modes) == 1 else "mixed"
        self.graph_bytes = max(s["graph_bytes"] for s in summaries)
        self.workers = len(self._actors)
        self.hvp_count = 0

    def _in_batch_order(self, values: Sequence[Any]) -> list[Any]:
        return [v for _, v in sorted(zip(self._order, values, strict=True), key=lambda kv: kv[0])]

    def where(self) -> dict[str, Any]:
        return {"engine": "ray", "address": self.address, "workers": self.workers}

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        self.hvp_count += 1
        v = vector.detach().to(device="cpu", dtype=self.dtype)
        ref = self._ray.put(v)
        parts = self._ray.get([a.hvp.remote(ref) for a in self._actors])
        out = sum(w * p.double() for w, p in zip(self._weights, parts, strict=True))
        return torch.as_tensor(out).to(device=self.device, dtype=self.dtype)

    def per_batch(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """H_b @ vector for every batch b on its own, in batch order; counts as one product."""
        self.hvp_count += 1
        ref = self._ray.put(vector.detach().to(device="cpu", dtype=self.dtype))
        parts = self._ray.get([a.per_batch.remote(ref) for a in self._actors])
        return [p.to(self.device) for p in self._in_batch_order([p for part in parts for p in part])]

    def per_batch_quotients(self, vector: torch.Tensor) -> list[float]:
        """vector^T H_b vector for every batch, in batch order; counts as one product."""
        self.hvp_count += 1
        ref = self._ray.put(vector.detach().cpu().double())
        parts = self._ray.get([a.per_batch_quotients.remote(ref) for a in self._actors])
        return self._in_batch_order([q for part in parts for q in part])

    def release(self) -> None:
        ray = getattr(self, "_ray", None) or _ray()
        for actor in getattr(self, "_actors", []):
            ray.kill(actor)
        self._actors = []


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
