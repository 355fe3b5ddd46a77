"""The user's training setup: how to build the model, the data, the loss and the optimizer.

A setup file is ordinary Python with a function returning `Setup`; it is loaded with
`load_setup("path/to/file.py:function")` or `load_setup("package.module:function")`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from probes.base import ProbeError

DataLike = Any  # (inputs, targets) tensors, a Dataset, or a DataLoader


class Setup(BaseModel):
    """How the user trains. Only `model`, `depth`, `train`, `loss` and `optimizer` are required."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Callable[[int], nn.Module] = Field(description="builds an nn.Module with `depth` hidden layers")
    depth: int = Field(ge=0, description="the depth the user trains today")
    train: DataLike
    val: DataLike | None = Field(None, description="held out FROM the training data")
    test: DataLike | None = Field(None, description="the data the model is judged on")
    loss: Callable[..., torch.Tensor]
    optimizer: Callable[[Any], torch.optim.Optimizer]
    steps: int = Field(400, gt=0)
    batch_size: int = Field(64, gt=0)
    seed: int = 0
    device: str = "auto"
    task: Literal["regression", "classification"] | None = Field(None, description="inferred when None")
    num_classes: int | None = None
    target_loss: float | None = Field(None, description="the training loss that would be good enough")
    depths: list[int] | None = Field(None, description="the depth ladder to compare (default around `depth`)")
    name: str = "setup"
    # optional hooks for `traindoc remedies`: remedies that need the user's code are tried only when given
    augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = Field(
        None, description="optional: a training batch (inputs, targets) -> an augmented batch"
    )
    model_options: dict[str, list[Any]] | None = Field(
        None,
        description="optional: keyword options `model(depth, **options)` accepts, each with values to "
        "try, e.g. {'width': [128], 'dropout': [0.2]}",
    )

    @field_validator("model", "loss", "optimizer")
    @classmethod
    def _callable(cls, value: Any) -> Any:
        if not callable(value):
            raise ValueError("must be callable")
        return value


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# -- loading ----------------------------------------------------------------------------------------


def load_setup(spec: str) -> Setup:
    """Load `file.py:function` or `module.path:function` and call it. Errors are one-line ProbeErrors."""
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise ProbeError(f"setup must look like path/to/file.py:function or module:function (got {spec!r})")
    module = _import_target(target)
    func = getattr(module, func_name, None)
    if func is None or not callable(func):
        raise ProbeError(f"setup {target} has no function {func_name!r}")
    try:
        result = func()
    except Exception as exc:
        raise ProbeError(f"setup function {func_name} failed: {_where(exc)}") from exc
    if not isinstance(result, Setup):
        raise ProbeError(
            f"setup function {func_name} returned {type(result).__name__}, expected probes.Setup"
        )
    return result


def _import_target(target: str) -> Any:
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            path = Path(target)
            if not path.is_file():
                raise ProbeError(f"setup file not found: {target}")
            name = f"traindoc_setup_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ProbeError(f"cannot import setup file {target}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(target)
    except ProbeError:
        raise
    except ModuleNotFoundError as exc:
        raise ProbeError(f"cannot import setup {target}: {exc}") from exc
    except Exception as exc:
        raise ProbeError(f"setup {target} failed to import: {_where(exc)}") from exc


def _where(exc: BaseException) -> str:
    """`ValueError: bad at file.py:12`: the message and the innermost user frame, on one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    loc = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{loc}"


# -- data -------------------------------------------------------------------------------------------


def as_dataset(data: DataLike, what: str = "train") -> Dataset:
    """Tensors, a Dataset or a DataLoader -> a Dataset of (input, target) pairs."""
    if isinstance(data, DataLoader):
        return data.dataset
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise ProbeError(f"{what} must be (inputs, targets) tensors, a Dataset or a DataLoader")
        if len(x) != len(y):
            raise ProbeError(f"{what} inputs and targets differ in length: {len(x)} vs {len(y)}")
        if len(x) == 0:
            raise ProbeError(f"{what} data is empty")
        return TensorDataset(x, y)
    raise ProbeError(
        f"{what} must be (inputs, targets) tensors, a Dataset or a DataLoader (got {type(data).__name__})"
    )


def tensors(
    data: DataLike, max_samples: int | None = None, what: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (or the first `max_samples`) pairs stacked into two tensors."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        as_dataset(data, what)  # validates
        x, y = data
        return (x, y) if max_samples is None else (x[:max_samples], y[:max_samples])
    ds = as_dataset(data, what)
    n = len(ds) if max_samples is None else min(len(ds), max_samples)  # type: ignore[arg-type]
    pairs = [ds[i] for i in range(n)]
    xs = torch.stack([torch.as_tensor(p[0]) for p in pairs])
    ys = torch.stack([torch.as_tensor(p[1]) for p in pairs])
    return xs, ys


def batches(
    data: DataLike, batch_size: int, generator: torch.Generator, what: str = "train"
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An endless stream of shuffled minibatches (a user's DataLoader is used as it is)."""
    if isinstance(data, DataLoader):
        while True:
            for batch in data:
                yield batch[0], batch[1]
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        as_dataset(data, what)
        n = len(x)
        while True:
            perm = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                yield x[idx], y[idx]
    loader = DataLoader(as_dataset(data, what), batch_size=batch_size, shuffle=True, generator=generator)
    while True:
        yield from loader


def load_any(spec: str) -> Setup:
    """A setup spec as users and the server config write it: FILE.py:FUNC, module:FUNC or demo:NAME."""
    if spec.startswith("demo:"):
        from probes.demos import demo_setup

        return demo_setup(spec.removeprefix("demo:"))
    return load_setup(spec)
