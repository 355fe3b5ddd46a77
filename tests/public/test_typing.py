"""The packages are typed for users' type checkers: lazy exports keep their types, `py.typed` ships.

The packages export names lazily (PEP 562 `__getattr__`, so `import traindoc` stays light); without
`if TYPE_CHECKING:` imports of the same names a type checker would see every export as `Any`, and
`Setup(modle=1)` would pass. The truth for "is it a type error" is mypy itself, run on a snippet.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

# every package with a lazy `_EXPORTS` table (rules types its own names by hand: KNOWLEDGE is built)
# .ci/run type-checks once, on 3.11 ([tool.mypy] python_version); the wheel is the same on every Python
ONCE = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="checked once, on Python 3.11 (the other CI run repeats it)"
)
LAZY = ["traindoc", "probes", "probes.remedies", "assistant.api"]
PACKAGES = ["assistant", "probes", "rules", "tui", "traindoc"]


def _type_checking_names(path: Path) -> set[str]:
    """The names bound under `if TYPE_CHECKING:` at the top level of a module."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in stmt.names)
    return names


@pytest.mark.parametrize("package", LAZY)
def test_every_lazy_export_is_imported_for_type_checkers(package: str) -> None:
    module = importlib.import_module(package)
    path = Path(module.__file__ or "")
    exports = set(module._EXPORTS)  # the table `__getattr__` serves at run time
    assert _type_checking_names(path) == exports, f"{path}: TYPE_CHECKING imports differ from _EXPORTS"


def test_every_package_is_marked_typed() -> None:
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package in PACKAGES:
        assert (REPO / package / "py.typed").is_file(), package
        assert "py.typed" in package_data[package], package


SNIPPET = """\
from collections.abc import Iterator

import torch
from torch import nn

import traindoc
from probes import Setup


def build(depth: int) -> nn.Module:
    return nn.Sequential(*[nn.Linear(2, 2) for _ in range(depth)], nn.Linear(2, 1))


def sgd(params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


data = (torch.zeros(4, 2), torch.zeros(4, 1))
fine = Setup(model=build, depth=1, train=data, loss=nn.MSELoss(), optimizer=sgd)
typo = Setup(modle=build, depth=1, train=data, loss=nn.MSELoss(), optimizer=sgd)
public_typo = traindoc.Setup(modle=build, depth=1, train=data, loss=nn.MSELoss(), optimizer=sgd)
wrong_type = Setup(model=build, depth="deep", train=data, loss=nn.MSELoss(), optimizer=sgd)
"""


def _line(text: str) -> int:
    return next(i for i, line in enumerate(SNIPPET.splitlines(), 1) if line.startswith(text))


@ONCE
@pytest.mark.slow  # mypy reads torch's stubs: seconds with the cache .ci/run leaves, minutes without
def test_mypy_sees_the_setup_fields_through_the_lazy_exports(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    # a new module name each run: mypy's cache is keyed by module name, and a cached module of the same
    # name and content would be reported under the path of the run that cached it
    snippet = tmp_path / f"typing_snippet_{uuid.uuid4().hex}.py"
    snippet.write_text(SNIPPET)
    # run from the repository: its [tool.mypy] (pydantic plugin) and its cache apply
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", str(snippet)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith(str(snippet))]
    at = {n: [e for e in errors if e.startswith(f"{snippet}:{n}:")] for n in range(1, 40)}
    assert any('Unexpected keyword argument "modle" for "Setup"' in e for e in at[_line("typo =")]), errors
    assert any('Unexpected keyword argument "modle"' in e for e in at[_line("public_typo =")]), errors
    assert any('"depth" to "Setup" has incompatible type "str"' in e for e in at[_line("wrong_type =")]), (
        errors
    )
    # the control: a correct call is no error, so the errors above are the typos, not a broken setup
    assert at[_line("fine =")] == [], errors
    assert done.returncode == 1, done.stdout + done.stderr


@ONCE
@pytest.mark.slow  # builds the wheel as `pip install` does (an isolated setuptools>=68): ~1-2 min
def test_the_wheel_ships_py_typed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("traindoc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/py.typed" in names, package
    # and the JSON Schemas `traindoc schema` prints without pydantic (tests/public/test_startup.py)
    for kind in ("report", "message", "event", "probes"):
        assert f"traindoc/schemas/{kind}.json" in names, kind
