"""One diagnosis of one setup: trains the user's model once and shares it (and other results) with
every probe, so no work is repeated across the flowchart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from probes.base import ProgressCallback, StopCheck, never_stop, no_progress
from probes.executor_options import ExecutorChoice, check_executor
from probes.setup import Setup
from probes.training import TrainedModel, TrainingRecord, train_model

T = TypeVar("T")


class ProbeContext:
    """Caches the user's trained model (depth `setup.depth`, seed `setup.seed`) and probe results.

    Probes call `trained()` instead of training themselves, and `cached(key, compute)` for anything
    another probe may need again (e.g. the depth ladder reuses the user-depth model).

    `executor` is where the other trainings (other depths and seeds, the held-out retraining, remedy
    trials) run: here by default, or on Ray (probes/trainings.py). The user's own run is always
    trained here: its step-by-step record stays in this process for the learning-rate check.
    """

    def __init__(
        self,
        setup: Setup,
        progress: ProgressCallback = no_progress,
        should_stop: StopCheck = never_stop,
        executor: ExecutorChoice | None = None,
    ) -> None:
        self.setup = setup
        self.progress = progress
        self.should_stop = should_stop
        self.executor = executor or ExecutorChoice()
        self._cache: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.trainings = 0  # how many training runs this context paid for (benchmarks report it)

    def trained(self, depth: int | None = None, seed: int | None = None) -> TrainedModel:
        depth = self.setup.depth if depth is None else depth
        seed = self.setup.seed if seed is None else seed

        user = (depth, seed) == (self.setup.depth, self.setup.seed)

        def run() -> TrainedModel:
            self.trainings += 1
            if not user and not self.executor.is_local:
                from probes.trainings import run_training, setup_training

                training = setup_training(self.setup, f"depth {depth} seed {seed}", depth=depth, seed=seed)
                return run_training(training, self.executor, should_stop=self.should_stop)
            return train_model(
                self.setup,
                depth,
                seed=seed,
                progress=self.progress,
                should_stop=self.should_stop,
                # only the user's own run is recorded: the learning-rate check measures that one
                record=self.record(depth, seed, fresh=True) if user else None,
            )

        return self.cached(f"trained:{depth}:{seed}", run)

    def keep_trained(self, trained: TrainedModel) -> None:
        """A training run elsewhere (on Ray) for `trained(trained.depth, trained.seed)`."""
        with self._lock:
            self._cache.setdefault(f"trained:{trained.depth}:{trained.seed}", trained)

    def has_trained(self, depth: int | None = None, seed: int | None = None) -> bool:
        """Whether `trained(depth, seed)` is already paid for (the remedies share it instead of retraining)."""
        depth = self.setup.depth if depth is None else depth
        seed = self.setup.seed if seed is None else seed
        with self._lock:
            return f"trained:{depth}:{seed}" in self._cache

    def record(
        self, depth: int | None = None, seed: int | None = None, *, fresh: bool = False
    ) -> TrainingRecord:
        """The step losses and snapshots of the last training run of (depth, seed); kept even when
        that run diverged, so the learning-rate check can measure where the run was still sane."""
        depth = self.setup.depth if depth is None else depth
        seed = self.setup.seed if seed is None else seed
        key = f"record:{depth}:{seed}"
        with self._lock:
            if fresh or key not in self._cache:
                self._cache[key] = TrainingRecord()
            return self._cache[key]

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]


def use_executor(ctx: ProbeContext, executor: str | None, workers: int | None = None) -> ExecutorChoice:
    """A probe's own `executor`/`workers` options (checked: a ProbeError names the field), kept on the
    context for the trainings after it; the context's executor when neither is given."""
    if executor is not None or workers is not None:
        current = ctx.executor
        name = executor if executor is not None else (current.address or current.kind)
        ctx.executor = check_executor(name, workers if workers is not None else current.workers)
    return ctx.executor
