"""The check every front end runs when it loads a setup (`probes.setup.load_checked`): planted bugs,
one per file or function, each refused with ONE line that names the problem and the fix.

Ground truth: each bug is planted by hand in tests/probes/setups/planted (the docstrings say which);
the correct setups next to them must pass, so the check cannot simply refuse everything.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from probes.base import ProbeError
from probes.setup import load_checked
from tests.conftest import REPO, assert_one_line_error, run_cli

PLANTED = Path(__file__).resolve().parent / "setups" / "planted"
REL = "tests/probes/setups/planted"

# (function in bugs.py or file:function, words the one-line refusal must contain)
BUGS = [
    ("bugs.py:setup", ("has no function 'setup'", "did you mean 'setpu'")),
    ("syntax_error.py:setup", ("SyntaxError", "syntax_error.py:5")),
    ("bugs.py:returns_model", ("returned Linear", "expected probes.Setup")),
    ("bugs.py:model_ignores_shape", ("forward pass", "[8, 4]", "mat1 and mat2", "input size")),
    ("bugs.py:model_not_of_depth", ("model must be a function of depth", "lambda depth")),
    ("bugs.py:model_returns_tensor", ("returned Tensor", "not a torch.nn.Module")),
    ("bugs.py:loss_broadcasts", ("broadcasts output [8, 1] against target [8]", "y.view(-1, 1)")),
    ("bugs.py:cross_entropy_float_targets", ("loss(output [8, 3], target [8, 1]) failed", "class indices")),
    ("bugs.py:loss_not_scalar", ("not a scalar", "reduction='mean'")),
    ("bugs.py:nan_in_data", ("loss of the untrained model is nan", "NaN")),
    ("bugs.py:optimizer_wrong", ("returned float", "torch.optim.Optimizer")),
]


@pytest.mark.parametrize("spec, needles", BUGS, ids=[s for s, _ in BUGS])
def test_each_planted_bug_is_refused_with_one_line(spec: str, needles: tuple[str, ...]) -> None:
    with pytest.raises(ProbeError) as err:
        load_checked(f"{PLANTED}/{spec}")
    message = err.value.message
    assert "\n" not in message and len(message) < 400, message
    assert str(PLANTED) not in message  # the user's file by its name, never a server path
    assert "linear.py" not in message and "module.py" not in message  # never torch's own lines
    for needle in needles:
        assert needle in message, (needle, message)


@pytest.mark.parametrize("spec", ["bugs.py:good", "uses_sibling.py:setup"])
def test_correct_setups_pass(spec: str) -> None:
    """`uses_sibling.py` imports `helpers_for_setup` from its own folder, as `python file.py` allows."""
    setup = load_checked(f"{PLANTED}/{spec}")
    assert setup.depth == 1


def test_every_demo_passes_the_check() -> None:
    from probes.demos import DEMOS

    for name in DEMOS:
        load_checked(f"demo:{name}")


def test_module_spec_imports_from_the_working_directory(tmp_path: Path) -> None:
    """`traindoc probe --setup mysetup:build` from the folder holding mysetup.py, as `python -m` would."""
    (tmp_path / "mysetup.py").write_text(
        (PLANTED / "bugs.py").read_text(encoding="utf-8")
        + "\n\ndef build():\n    return model_ignores_shape()\n",
        encoding="utf-8",
    )
    code = textwrap.dedent(
        """
        import sys
        from probes.base import ProbeError
        from probes.setup import load_checked
        load_checked("mysetup:good")
        try:
            load_checked("mysetup:build")
        except ProbeError as exc:
            print(exc.message)
        """
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("setup mysetup:build: the model's forward pass"), run.stdout


# Every front end refuses the same broken setup the same way: exit 2, one line, before any work.
FRONT_ENDS = [
    ("diagnose", "--setup"),
    ("probe", "curvature", "--setup"),
    ("--setup",),  # the terminal UI: refused before the screen takes over
]


@pytest.mark.slow
@pytest.mark.parametrize("args", FRONT_ENDS, ids=["diagnose", "probe", "tui"])
def test_front_ends_refuse_a_broken_setup(args: tuple[str, ...], tmp_path: Path) -> None:
    run = run_cli(*args, f"{REL}/bugs.py:model_ignores_shape", env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "setup bugs.py:model_ignores_shape", "mat1 and mat2", "input size")
    assert run.stdout == ""


@pytest.mark.slow
def test_serve_refuses_a_broken_setup_at_start(tmp_path: Path) -> None:
    run = run_cli(
        "serve", "--port", "0", "--setup", f"mine={REL}/bugs.py:setup", env={"TRAINDOC_HOME": str(tmp_path)}
    )
    assert_one_line_error(run, "has no function 'setup'", "did you mean 'setpu'")
