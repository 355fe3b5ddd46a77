"""The probes' independent trainings, here or on Ray (issue 18): depth ladder rungs x seeds, the
held-out retraining, remedy trials.

A `Training` is a picklable description of one training: a module-level function of probes/
(`probes.training.train_model`, `probes.remedies.trial.run_trial`) and its arguments (the Setup, the
depth, the seed, the variant). `run_trainings` runs a list of them on the chosen executor:

- local (the default): in this process, one after another, exactly as before: each training gets the
  live progress callback (every step is reported) and `should_stop` (checked every step).
- ray / ray://HOST:PORT: one Ray task per training (one CPU each), at most `workers` at once. The
  Setup travels with the task: the user's setup file (and every other module that is not installed,
  e.g. a helper next to it) is pickled BY VALUE, so its code ships with the task and a cluster whose
  nodes do not have the file works; the data goes once per task. Each training seeds itself as it does
  here (`torch.manual_seed(seed)`, the same batch generator), so the same seeds give the same numbers.
  Progress: each finished training is reported here as it finishes; cancel: `should_stop` is asked
  here every POLL_SECONDS while the tasks run, and on a stop every outstanding task is cancelled
  (`ray.cancel`) and waited for, so nothing is left running when ProbeCancelled is raised.

A ProbeError a training raises (a variant that cannot be built, a training that diverged) is its
RESULT, as data: the caller decides; ProbeCancelled always propagates.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probes.base import ProbeCancelled, ProbeError, ProgressCallback, StopCheck, never_stop, no_progress
from probes.executor_options import ExecutorChoice

if TYPE_CHECKING:
    from probes.setup import Setup

POLL_SECONDS = 0.1  # how often the driver asks should_stop while Ray tasks run
CANCEL_WAIT_SECONDS = 30.0  # a cancelled task stops at its next Python bytecode; a torch op finishes first

# top-level packages every worker has installed (traindoc's own, its dependencies): pickled by reference
_INSTALLED = {"probes", "rules", "assistant", "traindoc", "tui", "benchmarks", "torch", "numpy"}

Done = Callable[[int, "Training", Any], None]  # (index, training, result or ProbeError), as each finishes


@dataclass(frozen=True)
class Training:
    """One independent training: `function(*args, progress=..., should_stop=..., **kwargs)`."""

    label: str  # "depth 3 seed 1": progress messages
    function: Callable[..., Any]  # module-level, so workers import it by name
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    gpus: float = 0.0  # a Ray task of a CUDA setup asks for a GPU


def for_workers(setup: Setup) -> Setup:
    """The setup with its device resolved HERE: a worker with a GPU trains on the CPU when this
    machine would (the same numbers as a local run), and a CUDA setup's tasks ask Ray for a GPU."""
    from probes.setup import resolve_device

    return setup.model_copy(update={"device": str(resolve_device(setup.device))})


def setup_training(setup: Setup, label: str, **kwargs: Any) -> Training:
    """`train_model(setup, **kwargs)` as a Training (depth, seed, series, ...)."""
    from probes.training import train_model

    shipped = for_workers(setup)
    return Training(
        label, train_model, (shipped,), kwargs, gpus=1.0 if shipped.device.startswith("cuda") else 0.0
    )


def run_trainings(
    trainings: Sequence[Training],
    executor: ExecutorChoice,
    *,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    done: Done | None = None,
) -> list[Any]:
    """Every training's result (or the ProbeError it raised), in the order of `trainings`."""
    if executor.is_local:
        return _run_here(trainings, progress, should_stop, done)
    return _run_on_ray(trainings, executor, should_stop, done)


def run_training(
    training: Training,
    executor: ExecutorChoice,
    *,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> Any:
    """One training's result; its ProbeError is raised, as a call in this process would."""
    (result,) = run_trainings([training], executor, progress=progress, should_stop=should_stop)
    if isinstance(result, ProbeError):
        raise result
    return result


def ray_workers(executor: ExecutorChoice) -> int:
    """How many trainings run at once on this executor (1 here)."""
    if executor.is_local:
        return 1
    ray = connect(executor)
    return executor.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def executor_json(executor: ExecutorChoice) -> dict[str, Any]:
    """The `executor` key of a probe's JSON: kind, address and the trainings it ran at once."""
    return executor.describe(None if executor.is_local else ray_workers(executor))


# -- here -------------------------------------------------------------------------------------------


def _run_here(
    trainings: Sequence[Training], progress: ProgressCallback, should_stop: StopCheck, done: Done | None
) -> list[Any]:
    results: list[Any] = []
    for i, t in enumerate(trainings):
        if should_stop():
            raise ProbeCancelled("trainings")
        try:
            result = t.function(*t.args, progress=progress, should_stop=should_stop, **t.kwargs)
        except ProbeCancelled:
            raise
        except ProbeError as exc:
            result = exc
        results.append(result)
        if done is not None:
            done(i, t, result)
    return results


# -- on Ray -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    """A worker's ProbeError, rebuilt here with its class (TrainingDiverged is data to the ladder)."""

    kind: type[ProbeError]
    message: str
    field: str | None

    def rebuild(self) -> ProbeError:
        return self.kind.from_wire(self.message, self.field)  # type: ignore[return-value]  # from_wire builds cls


def _remote_call(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], threads: int | None
) -> Any:
    """What a Ray task runs: the training, with the driver's thread limit (results depend on it)."""
    from probes.threads import limit_threads

    limit_threads(threads)
    try:  # progress and cancel are the driver's: reported and asked between trainings
        return function(*args, progress=no_progress, should_stop=never_stop, **kwargs)
    except ProbeCancelled:
        raise
    except ProbeError as exc:
        return _Failure(type(exc), exc.message, exc.field)


def connect(executor: ExecutorChoice) -> Any:
    """Ray, initialized (the curvature executor's one connection code: an existing one is kept)."""
    from probes.curvature.ray_executor import connect as connect_ray

    return connect_ray(executor.ray_address)


def ship_by_value() -> None:
    """Every loaded module that is neither installed nor traindoc's own (the user's setup file, a
    helper module next to it, a test's module) is pickled by value: its code travels with the tasks."""
    from ray import cloudpickle  # Ray's own copy: registering in the standalone package does nothing

    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        top = name.split(".")[0]
        if (
            not origin.endswith(".py")
            or name in ("__main__", "__mp_main__")
            or top in _INSTALLED
            or top in sys.stdlib_module_names
            or "site-packages" in origin
            or "dist-packages" in origin
        ):
            continue
        with contextlib.suppress(ValueError):  # already registered, or not shippable
            cloudpickle.register_pickle_by_value(module)


def _run_on_ray(
    trainings: Sequence[Training], executor: ExecutorChoice, should_stop: StopCheck, done: Done | None
) -> list[Any]:
    from probes.threads import thread_limit

    ray = connect(executor)
    ship_by_value()
    at_once = ray_workers(executor)
    threads = thread_limit()
    remote = ray.remote(num_cpus=1, max_retries=0)(_remote_call)
    results: list[Any] = [None] * len(trainings)
    waiting = list(range(len(trainings)))
    running: dict[Any, int] = {}
    try:
        while waiting or running:
            if should_stop():
                raise ProbeCancelled("trainings")
            while waiting and len(running) < at_once:
                i = waiting.pop(0)
                t = trainings[i]
                ref = remote.options(num_gpus=t.gpus).remote(t.function, t.args, t.kwargs, threads)
                running[ref] = i
            finished, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
            for ref in finished:
                i = running.pop(ref)
                results[i] = _result(ray, ref)
                if done is not None:
                    done(i, trainings[i], results[i])
    except BaseException:
        _cancel(ray, list(running))
        raise
    return results


def _result(ray: Any, ref: Any) -> Any:
    try:
        value = ray.get(ref)
    except Exception as exc:  # a worker's crash comes back wrapped: one line for the user
        cause = getattr(exc, "cause", None) or exc
        lines = str(cause).strip().splitlines()
        return ProbeError(f"a Ray worker failed: {lines[-1] if lines else type(cause).__name__}")
    return value.rebuild() if isinstance(value, _Failure) else value


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Cancel every outstanding task and wait until none runs."""
    for ref in refs:
        with contextlib.suppress(Exception):  # already finished
            ray.cancel(ref)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_SECONDS)
