"""`import traindoc` is the documented way in: its names are pinned, typed and behave as documented."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import traindoc
from tests.conftest import REPO, run_cli

PUBLIC = [
    "Finding",
    "InputError",
    "ProbeError",
    "ProbeOutcome",
    "ProbeProgress",
    "Report",
    "Setup",
    "ShadowedPackageError",
    "TraindocClient",
    "TraindocError",
    "WatchReport",
    "__version__",
    "diagnose",
    "load_setup",
    "measure_curvature",
    "watch",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert traindoc.__all__ == PUBLIC  # adding a name is a decision: change this list with it
    for name in PUBLIC:
        assert getattr(traindoc, name) is not None
    assert set(PUBLIC) <= set(dir(traindoc))
    with pytest.raises(AttributeError):
        traindoc.no_such_name  # noqa: B018


def test_names_are_the_implementation_objects() -> None:
    from assistant.client import TraindocClient
    from assistant.errors import InputError, TraindocError
    from assistant.models import Report
    from probes.measure import measure_curvature
    from probes.setup import Setup

    assert traindoc.Setup is Setup and traindoc.Report is Report
    assert traindoc.TraindocClient is TraindocClient and traindoc.measure_curvature is measure_curvature
    assert issubclass(InputError, TraindocError) and traindoc.TraindocError is TraindocError
    assert issubclass(traindoc.ShadowedPackageError, ImportError)


def test_version_has_one_home() -> None:
    # the distribution's metadata reads traindoc.__version__ (pyproject: dynamic version)
    assert importlib.metadata.version("traindoc") == traindoc.__version__


def test_type_information_is_shipped() -> None:
    package = Path(traindoc.__file__).parent
    assert (package / "py.typed").is_file()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["traindoc"]


def test_import_is_light() -> None:
    """`import traindoc` loads no torch, httpx, durable or fastapi: names load on first use."""
    code = (
        "import sys, traindoc\n"
        "heavy = [m for m in ('torch', 'httpx', 'durable', 'fastapi', 'pydantic') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# Ground truth: the flowchart (docs of the course, ../README.md's diagram). Training loss small, test
# loss large, the validation split from the training data large too -> overfitting; validation small
# -> mismatch; training loss small and test small -> healthy.
FLOWCHART_LEAVES = [
    ({"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "yes"}, "overfitting"),
    ({"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "no"}, "mismatch"),
    ({"train_loss_large": "no", "test_loss_large": "no"}, "healthy"),
    ({"train_loss_large": "yes", "deeper_model_worse": "no"}, "model_bias"),
]


@pytest.mark.parametrize(("answers", "finding"), FLOWCHART_LEAVES)
def test_diagnose_from_answers_reaches_the_flowchart_leaf(answers: dict[str, str], finding: str) -> None:
    report = traindoc.diagnose(answers=answers)
    assert isinstance(report, traindoc.Report)
    assert finding in [f.id for f in report.findings]
    assert report.complete


def test_diagnose_bad_input_raises_the_error_root() -> None:
    with pytest.raises(traindoc.TraindocError, match="no_such_question"):
        traindoc.diagnose(answers={"no_such_question": "yes"})
    with pytest.raises(traindoc.TraindocError, match="either setup or demo"):
        traindoc.diagnose(traindoc.Setup.model_construct(), demo="saddle_point")


@pytest.mark.slow
def test_diagnose_on_a_setup_matches_the_command_line(one_torch_thread: None) -> None:
    """The library call and `traindoc diagnose --setup` walk the same probes to the same findings."""
    spec = "tests/service/setups.py:quick"
    cli = run_cli("diagnose", "--setup", spec, "--json", env={"TRAINDOC_THREADS": "1"})
    assert cli.code == 0, cli.stderr
    expected = cli.json()
    report = traindoc.diagnose(str(REPO / spec.split(":")[0]) + ":quick")
    assert [f.id for f in report.findings] == [f["id"] for f in expected["findings"]]
    assert {q: a.value for q, a in report.answers.items()} == {
        q: a["value"] for q, a in expected["answers"].items()
    }
    assert report.findings, "the quick setup reaches a finding"
