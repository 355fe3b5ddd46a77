"""Where computations run: `--executor local|ray|ray://HOST:PORT` and `--workers N`, declared once.

The curvature measurement (its Hessian-vector products on Ray actors) and the independent trainings
of the probes (depth ladder rungs x seeds, the held-out retraining, remedy trials: probes/trainings.py)
read the same option, checked here. No torch, no pydantic and no Ray here: the CLI's parser reads
this module at start-up, and Ray is imported only when the executor is Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCAL = "local"
RAY = "ray"
CLUSTER_PREFIX = "ray://"

EXECUTOR_HELP = (
    "where the independent trainings run: local (this process, one after another), ray (a local Ray) "
    "or ray://HOST:PORT (a Ray cluster; `pip install traindoc[ray]`)"
)
WORKERS_HELP = "trainings running at once on Ray (one CPU each)"
WORKERS_SHOWN_DEFAULT = "Ray's CPU count"
WORKERS_BOUNDS = (1, 256)


@dataclass(frozen=True)
class ExecutorChoice:
    """A checked executor: `kind` local or ray; `address` None (this process, or a Ray started here)
    or the cluster's ray://HOST:PORT; `workers` at most this many trainings at once (None: Ray's CPUs)."""

    kind: str = LOCAL
    address: str | None = None
    workers: int | None = None

    @property
    def is_local(self) -> bool:
        return self.kind == LOCAL

    @property
    def ray_address(self) -> str:
        """What `ray.init` is given: "ray" starts (or joins) a local Ray."""
        return self.address or RAY

    def describe(self, workers: int | None = None) -> dict[str, Any]:
        """The JSON's `executor` key: which executor ran, and how many trainings it ran at once."""
        return {
            "kind": self.kind,
            "address": self.address,
            "workers": workers if workers is not None else (1 if self.is_local else self.workers),
        }


def check_executor(executor: str | None, workers: int | None = None) -> ExecutorChoice:
    """The user's --executor and --workers, or a one-line ProbeError naming the field."""
    from probes.base import ProbeError  # pydantic: not at the CLI parser's import time

    name = (executor or LOCAL).strip()
    host = name.removeprefix(CLUSTER_PREFIX)
    is_cluster = name.startswith(CLUSTER_PREFIX) and ":" in host and bool(host.partition(":")[0])
    if name not in (LOCAL, RAY) and not (is_cluster and host.partition(":")[2].isdigit()):
        raise ProbeError(
            f"executor must be local, ray or ray://HOST:PORT (got {executor!r})", field="executor"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0):
        raise ProbeError(f"workers must be positive (got {workers})", field="workers")
    if name == LOCAL:
        return ExecutorChoice(LOCAL, None, workers)
    return ExecutorChoice(RAY, name if is_cluster else None, workers)
