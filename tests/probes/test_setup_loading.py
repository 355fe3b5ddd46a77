"""Every way a user's setup can go wrong ends in ONE line naming the problem: a ProbeError in the
library, and through the CLI exit code 2 with one line on stderr and no traceback."""

from __future__ import annotations

import pytest

from probes.base import ProbeError
from probes.context import ProbeContext
from probes.registry import run_probe
from probes.setup import load_setup
from tests.conftest import assert_one_line_error, run_cli
from tests.probes.conftest import SETUPS

REL = "tests/probes/setups"

# (spec relative to the repository, words the one-line message must contain)
LOAD_ERRORS = [
    (f"{REL}/missing.py:setup", ("setup file not found", "missing.py")),
    (f"{REL}/import_error.py:setup", ("cannot import setup", "torch_extension_that_does_not_exist")),
    (f"{REL}/tiny_regression.py:nope", ("has no function", "'nope'")),
    (
        f"{REL}/broken.py:raises",
        ("setup function raises failed", "could not find the data directory", "broken.py:"),
    ),
    (f"{REL}/broken.py:wrong_type", ("returned dict", "expected probes.Setup")),
    ("no_colon_here", ("setup must look like",)),
]
RUN_ERRORS = [
    (f"{REL}/broken.py:shape_mismatch", ("model forward failed", "(16, 4)", "mat1 and mat2")),
    (f"{REL}/broken.py:nan_loss", ("training loss turned nan", "step 0")),
]

# The CLI checks a setup when it loads it (probes.setup.load_checked): the same bugs are refused
# before any training, with the check's words.
CHECKED_AT_LOAD = [
    (f"{REL}/broken.py:shape_mismatch", ("forward pass", "[8, 4]", "mat1 and mat2")),
    (f"{REL}/broken.py:nan_loss", ("loss of the untrained model is nan", "NaN")),
]


def _one_line(exc: ProbeError, needles: tuple[str, ...]) -> None:
    assert "\n" not in exc.message
    for needle in needles:
        assert needle in exc.message, (needle, exc.message)


@pytest.mark.parametrize("spec, needles", LOAD_ERRORS, ids=[s.split("/")[-1] for s, _ in LOAD_ERRORS])
def test_loading_errors_are_one_line(spec: str, needles: tuple[str, ...]) -> None:
    with pytest.raises(ProbeError) as err:
        load_setup(spec)
    _one_line(err.value, needles)


@pytest.mark.parametrize("spec, needles", RUN_ERRORS, ids=[s.split(":")[-1] for s, _ in RUN_ERRORS])
def test_running_errors_are_one_line(spec: str, needles: tuple[str, ...]) -> None:
    setup = load_setup(spec)  # loads fine; the problem shows when the recipe runs
    with pytest.raises(ProbeError) as err:
        run_probe("curvature", ProbeContext(setup))
    _one_line(err.value, needles)


def test_a_failed_setup_leaves_the_next_one_unharmed() -> None:
    with pytest.raises(ProbeError):
        run_probe("curvature", ProbeContext(load_setup(f"{SETUPS}/broken.py:nan_loss")))
    outcome = run_probe("curvature", ProbeContext(load_setup(f"{SETUPS}/lecture_saddle.py:setup")))
    assert outcome.data["classification"] == "saddle_point"


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec, needles",
    LOAD_ERRORS + CHECKED_AT_LOAD,
    ids=[s.split("/")[-1] for s, _ in LOAD_ERRORS + CHECKED_AT_LOAD],
)
def test_cli_exits_2_with_one_line(spec: str, needles: tuple[str, ...]) -> None:
    run = run_cli("probe", "curvature", "--setup", spec, "--json", timeout=300)
    assert_one_line_error(run, *needles)
    assert run.stdout == ""
    assert run.stderr.startswith("traindoc: ")
