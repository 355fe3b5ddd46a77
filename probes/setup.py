"""The user's training setup: how to build the model, the data, the loss and the optimizer.

A setup file is ordinary Python with a function returning `Setup`; it is loaded with
`load_setup("path/to/file.py:function")` or `load_setup("package.module:function")`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from probes.base import ProbeError, SetupMismatch

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
        raise ProbeError(f"setup {target} has no function {func_name!r}{_did_you_mean(module, func_name)}")
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
            # as with `python file.py`: the file's folder is importable, so `from helpers import x` works
            _importable(path.resolve().parent)
            name = f"traindoc_setup_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ProbeError(f"cannot import setup file {target}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        _importable(Path.cwd())  # as with `python -m`: the working directory is importable
        return importlib.import_module(target)
    except ProbeError:
        raise
    except ModuleNotFoundError as exc:
        raise ProbeError(f"cannot import setup {target}: {exc}") from exc
    except Exception as exc:
        raise ProbeError(f"setup {target} failed to import: {_where(exc)}") from exc


def _did_you_mean(module: Any, name: str) -> str:
    import difflib

    functions = [n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")]
    close = difflib.get_close_matches(name, functions, n=1)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" — functions there: {', '.join(functions)}" if functions else ""


_LIBRARY_ROOTS = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(__file__).resolve().parent)}
)


def _library_frame(filename: str) -> bool:
    return filename.startswith(_LIBRARY_ROOTS) or "site-packages" in filename or filename.startswith("<")


def _importable(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _where(exc: BaseException) -> str:
    """`ValueError: bad at file.py:12`: the message and the innermost user frame, on one line."""
    if isinstance(exc, SyntaxError) and exc.filename:  # the frames are importlib's; the place is here
        return f"SyntaxError: {exc.msg} (at {Path(exc.filename).name}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    # the user's own line, not torch's: library frames (site-packages, the standard library, ours)
    # say where it broke, the user's frame says what to fix
    mine = [f for f in frames if not _library_frame(f.filename)]
    loc = f" (at {Path(mine[-1].filename).name}:{mine[-1].lineno})" if mine else ""
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
    n = len(ds) if max_samples is None else min(len(ds), max_samples)  # type: ignore[arg-type]  # torch types Dataset without __len__; these are sized (as_dataset checks)
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


# -- the check every front end runs at load ---------------------------------------------------------

CHECK_SAMPLES = 8  # one small batch: enough to catch shape and type errors, cheap on any model


def load_checked(spec: str, *, run_batch: bool = True) -> Setup:
    """Load a setup spec and check that it can be trained (`check_setup`): the ONE loader that the
    CLI, the TUI and the service call, so a broken setup is refused at start with one line, never
    found out at the first probe.

    `run_batch=False` skips the forward pass: the server checks its registrations that way, because
    user code that runs (and may hang, hoard memory or kill its process) belongs in a job's child
    process, where the job then runs `check_batch` under its limits."""
    target = spec.rpartition(":")[0]
    try:
        setup = load_any(spec)
    except ProbeError as exc:
        # the service resolves files to absolute paths; a message names the file, not where it lives
        shown = Path(target).name if Path(target).is_absolute() else target
        raise ProbeError(
            exc.message.replace(target, shown) if target else exc.message, field="setup"
        ) from exc
    check_setup(setup, shown_name(spec), run_batch=run_batch)
    return setup


def shown_name(spec: str) -> str:
    """The spec as the user knows it: a file by its name, not the server's absolute path."""
    target, _, func = spec.rpartition(":")
    if target.endswith(".py"):
        return f"{Path(target).name}:{func}"
    return spec


def check_setup(setup: Setup, name: str = "setup", *, run_batch: bool = True) -> None:
    """`model` is a function of depth returning an nn.Module, the optimizer takes its parameters, and
    one forward pass + loss + backward on a batch of the training data gives a finite scalar.

    Raises a one-line ProbeError (field "setup") naming the problem and the fix. Runs on the CPU: a
    shape or type bug shows there as well, and the check must not wait for a GPU.
    """
    model = _build(setup, name)
    if run_batch:
        check_batch(setup, name, model)


def check_batch(setup: Setup, name: str = "setup", model: nn.Module | None = None) -> None:
    """The part of `check_setup` that runs the user's code on data: optimizer, forward, loss, backward."""
    model = model if model is not None else _build(setup, name)
    try:
        params = [p for p in model.parameters() if p.requires_grad]
    except Exception as exc:
        raise _refuse(name, f"the model's parameters cannot be listed ({_where(exc)})", "") from exc
    if not params:
        raise _refuse(name, "the model has no trainable parameters", "build it from torch.nn layers")
    try:
        optimizer = setup.optimizer(params)
    except Exception as exc:
        raise _refuse(
            name, f"optimizer(params) failed: {_where(exc)}", "optimizer must take the model's parameters"
        ) from exc
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise _refuse(
            name,
            f"optimizer(params) returned {type(optimizer).__name__}, not a torch.optim.Optimizer",
            "e.g. optimizer=lambda params: torch.optim.SGD(params, lr=0.1)",
        )
    try:
        x, y = tensors(setup.train, max_samples=CHECK_SAMPLES)
    except ProbeError as exc:
        raise _refuse(name, exc.message, "") from exc
    except Exception as exc:
        raise _refuse(name, f"the training data cannot be read ({_where(exc)})", "") from exc
    _forward_and_loss(setup, model, x, y, name)


def _build(setup: Setup, name: str) -> nn.Module:
    try:
        inspect.signature(setup.model).bind(setup.depth)
    except TypeError:
        raise _refuse(
            name,
            "model must be a function of depth",
            "write model=lambda depth: build(depth), and build the layers from depth",
        ) from None
    except ValueError:
        pass  # a builtin without a signature: calling it is the test
    try:
        model = setup.model(setup.depth)
    except Exception as exc:
        raise _refuse(name, f"model({setup.depth}) failed: {_where(exc)}", "") from exc
    if not isinstance(model, nn.Module):
        raise _refuse(
            name,
            f"model({setup.depth}) returned {type(model).__name__}, not a torch.nn.Module",
            "model must build a new nn.Module for a given depth",
        )
    return model


def _forward_and_loss(setup: Setup, model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    shape = list(x.shape)
    model = model.to("cpu")
    try:
        out = model(x)
    except Exception as exc:
        raise _refuse(
            name,
            f"the model's forward pass on a training batch of shape {shape} failed: {_where(exc)}",
            "make the model's input size match the data",
            SetupMismatch,
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise _refuse(
            name,
            f"the model returned {type(out).__name__}, not a tensor",
            "return the output tensor",
            SetupMismatch,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = setup.loss(out, y)
        except Exception as exc:
            raise _refuse(
                name,
                f"loss(output {list(out.shape)}, target {list(y.shape)}) failed: {_where(exc)}",
                "make the targets match the loss (class indices for cross-entropy, the output's shape for MSE)",
                SetupMismatch,
            ) from exc
    # MSELoss broadcasts an output of [8, 1] against a target of [8] into [8, 8] and only warns:
    # training then runs and learns the mean; refuse it here instead.
    for w in caught:
        if "target size" in str(w.message) or "broadcast" in str(w.message):
            raise _refuse(
                name,
                f"the loss broadcasts output {list(out.shape)} against target {list(y.shape)}",
                "give the targets the output's shape (e.g. y.view(-1, 1))",
                SetupMismatch,
            )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"shape {list(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise _refuse(name, f"the loss returned {got}, not a scalar", "use reduction='mean'", SetupMismatch)
    if not math.isfinite(float(loss.detach())):
        raise _refuse(
            name,
            f"the loss of the untrained model is {float(loss.detach())} on the first batch",
            "check the data for NaN/inf values",
        )
    try:
        loss.backward()
    except Exception as exc:
        raise _refuse(name, f"loss.backward() failed: {_where(exc)}", "") from exc


def _refuse(name: str, problem: str, fix: str, kind: type[ProbeError] = ProbeError) -> ProbeError:
    text = " ".join(f"setup {name}: {problem}".split())
    return kind(f"{text} — {fix}" if fix else text, field="setup")


def load_any(spec: str) -> Setup:
    """A setup spec as users and the server config write it: FILE.py:FUNC, module:FUNC or demo:NAME."""
    if spec.startswith("demo:"):
        from probes.demos import demo_setup

        return demo_setup(spec.removeprefix("demo:"))
    return load_setup(spec)
