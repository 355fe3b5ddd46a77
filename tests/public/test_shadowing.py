"""A file or package that takes one of traindoc's four generic names either does not affect traindoc or
produces one line naming that file and the fix.

Ground truth: Python's import rules. `python -m` and `python -c` put the working directory first on
the import path, so a `rules.py` or `probes/` there wins the import; the `traindoc` console script puts
its own bin folder there instead, so the working directory cannot shadow anything. Another distribution
installing a top-level `rules` (django-rules, PyPI name `rules`) replaces traindoc's `rules/__init__.py`
in a regular install, and comes first on the path in an editable one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent
CONSOLE = BIN / "traindoc"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)


def assert_one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def make_shadow(where: Path, kind: str) -> str:
    """Create the shadowing file; return how the message must name it."""
    if kind == "rules.py":
        (where / "rules.py").write_text("RULES = []  # the user's own module\n")
        return "./rules.py"
    if kind == "probes/":
        (where / "probes").mkdir()
        (where / "probes" / "__init__.py").write_text("")
        return "./probes"
    (where / "probes").mkdir()  # a folder of the user's scripts, no __init__.py: a namespace package
    (where / "probes" / "check.py").write_text("")
    return "./probes"


KINDS = ["rules.py", "probes/", "probes/ (no __init__.py)"]


@pytest.mark.parametrize("kind", KINDS)
def test_python_dash_m_names_the_file_and_the_fix(tmp_path: Path, kind: str) -> None:
    shown = make_shadow(tmp_path, kind)
    for module in ("traindoc", "assistant"):
        proc = run([sys.executable, "-m", module, "schema"], tmp_path)
        if kind.endswith("(no __init__.py)") and proc.returncode == 0:
            # a namespace folder loses to a regular package later on the path (a non-editable install)
            continue
        assert_one_line(proc, shown, "shadows traindoc's package", "pipx install traindoc")
        assert proc.stdout == ""


@pytest.mark.parametrize("kind", KINDS)
def test_import_traindoc_raises_one_clear_import_error(tmp_path: Path, kind: str) -> None:
    shown = make_shadow(tmp_path, kind)
    code = (
        "import traindoc\n"
        "try:\n    traindoc.Setup\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
        "else:\n    print('imported', traindoc.Setup.__module__)\n"
    )
    out = run([sys.executable, "-c", code], tmp_path).stdout.strip()
    if kind.endswith("(no __init__.py)") and out.startswith("imported"):
        return
    assert out.startswith("ShadowedPackageError "), out
    assert shown in out and "uv tool install traindoc" in out


@pytest.mark.parametrize("kind", KINDS)
def test_the_console_script_is_not_affected(tmp_path: Path, kind: str) -> None:
    if not CONSOLE.exists():
        pytest.skip(f"no traindoc console script next to {sys.executable} (install with pip install -e .)")
    make_shadow(tmp_path, kind)
    proc = run([str(CONSOLE), "schema"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"title": "traindoc report"' in proc.stdout


def test_probe_job_child_does_not_import_from_the_working_directory(tmp_path: Path) -> None:
    """The probe-job child is spawned with -P: a rules.py in the server's directory is not imported."""
    (tmp_path / "rules.py").write_text("raise SystemExit('the working directory was imported')\n")
    code = "import rules, sys; print(rules.__file__)"
    proc = run([sys.executable, "-P", "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == REPO / "rules" / "__init__.py"
    # and the job runner spawns its child exactly so: the argv list of its Popen call starts with -P
    tree = ast.parse((REPO / "assistant" / "jobs" / "runner.py").read_text())
    argvs = [
        [ast.literal_eval(e) for e in call.args[0].elts[1:3]]
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and ast.unparse(call.func) == "subprocess.Popen"
        and isinstance(call.args[0], ast.List)
    ]
    assert argvs == [["-P", "-c"]]


# -- another distribution named `rules` in the same environment ------------------------------------


def make_venv(where: Path, editable: bool) -> Path:
    """A throwaway venv holding traindoc (no dependencies: the check runs before any is imported) and
    django-rules (PyPI name `rules`), installed after traindoc as a user would."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, capture_output=True, timeout=300)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps"]
    target = ["-e", str(REPO)] if editable else [str(REPO)]
    proc = subprocess.run([*pip, *target], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([*pip, "rules==3.5"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"cannot install django-rules (PyPI `rules`) here: {proc.stderr.strip()[-300:]}")
    return where


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["pip-install", "pip-install-e"])
def test_django_rules_installed_beside_traindoc(tmp_path: Path, editable: bool) -> None:
    venv = make_venv(tmp_path / "venv", editable)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    expected = "is not traindoc's package 'rules'" if not editable else "shadows traindoc's package 'rules'"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (
        [str(venv / "bin" / "traindoc"), "--help"],
        [str(venv / "bin" / "python"), "-m", "traindoc"],
    ):
        proc = run(args, elsewhere)
        assert_one_line(proc, str(site / "rules" / "__init__.py"), expected, "pipx install traindoc")
    # django-rules itself still works: traindoc never replaced its module
    proc = run([str(venv / "bin" / "python"), "-c", "import rules; print(rules.predicate)"], elsewhere)
    assert proc.returncode == 0 and "function" in proc.stdout, proc.stderr
