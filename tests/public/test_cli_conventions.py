"""Command-line conventions: --version, help with a description and examples for every command, shell
completion generated from the parser and checked in the real shells.

Ground truth: the argparse parser itself (every example must parse; every option the parser knows must
complete) and the shells' own completion machinery (bash's `complete -F` function contract, fish's
`complete -C`).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import traindoc
from assistant.cli import build_parser
from assistant.cli.completion import describe
from assistant.cli.help_text import HELP, walk
from tests.conftest import REPO, run_cli

CONSOLE = Path(sys.executable).parent / "traindoc"
PARSER = build_parser()
COMMANDS = describe(PARSER)


def test_version() -> None:
    run = run_cli("--version")
    assert run.code == 0 and run.stdout.strip() == f"traindoc {traindoc.__version__}"


def test_every_command_has_a_description_and_examples() -> None:
    paths = [path for path, _ in walk(PARSER)]
    assert "probe curvature" in paths and "completion" in paths
    assert sorted(paths) == sorted(p for p in HELP if p), "HELP and the commands drifted apart"
    for path, sub in walk(PARSER):
        assert sub.description and len(sub.description) > 30, path
        assert sub.epilog and sub.epilog.startswith("examples:\n  ") and "traindoc " in sub.epilog, path


def _example_args(line: str) -> list[str] | None:
    """The argv of an example line, or None for lines that are not one plain traindoc call."""
    line = line.strip()
    if "COMMAND" in line:
        return None
    if "| traindoc " in line:
        line = line.split("| ", 1)[1]
    words = shlex.split(line, comments=True)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # VAR=value prefixes
    if not words or words[0] != "traindoc":
        return None
    return words[1 : words.index(">")] if ">" in words else words[1:]


def test_every_example_parses() -> None:
    checked = 0
    for _, examples in HELP.values():
        for line in examples.splitlines():
            args = _example_args(line)
            if args is None:
                continue
            PARSER.parse_args(args)  # the parser exits 2 with one line on a bad example
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("path", [p for p in HELP if p])
def test_help_shows_the_examples(path: str) -> None:
    run = run_cli(*path.split(), "--help")
    assert run.code == 0
    assert "examples:\n  " in run.stdout
    assert HELP[path][1].splitlines()[0] in run.stdout


def test_the_port_in_serve_help_is_the_service_default() -> None:
    from assistant.api.settings import DEFAULT_PORT
    from assistant.cli import serve

    assert serve.DEFAULT_PORT == DEFAULT_PORT


# -- completion ---------------------------------------------------------------------------------------


def _cases() -> list[tuple[str, set[str]]]:
    """(command line being typed, words that must be offered), over every command, option and choice."""
    cases = []
    for c in COMMANDS:
        prefix = f"traindoc {c.path} ".replace("  ", " ")
        words = {f for o in c.options for f in o.flags} | {n for n, _ in c.subcommands} | set(c.values)
        flags = {f for o in c.options for f in o.flags}
        # an empty word offers everything, except where a file is expected (history PATH): there the
        # shell's file names come instead (complete -o default), and a "-" offers the options
        cases.append((prefix, set() if c.takes_path else words))
        cases.append((prefix + "-", flags))
        for word in words:
            cases.append((prefix + word, {word}))
        for opt in c.options:
            if opt.choices:
                cases.append((f"{prefix}{opt.flags[-1]} ", set(opt.choices)))
    return cases


BASH_DRIVER = """
source <("$TRAINDOC" completion bash)
while IFS= read -r line; do
    read -r -a COMP_WORDS <<< "$line"
    [[ "$line" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _traindoc
    echo "${COMPREPLY[*]}"
done
"""


def test_bash_completes_every_command_option_and_choice() -> None:
    if not CONSOLE.exists():
        pytest.skip("no traindoc console script in this environment (pip install -e .)")
    cases = _cases()
    proc = subprocess.run(
        ["bash", "-c", BASH_DRIVER],
        input="\n".join(line for line, _ in cases) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={"TRAINDOC": str(CONSOLE), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    replies = proc.stdout.split("\n")
    assert len(replies) >= len(cases)
    for (line, expected), reply in zip(cases, replies, strict=False):
        offered = set(reply.split())
        assert expected <= offered, (line, expected - offered)
        if not expected:
            assert not offered, (line, offered)
    # a value that is a path is left to the shell's file names (complete -o default)
    script = subprocess.run([str(CONSOLE), "completion", "bash"], capture_output=True, text=True).stdout
    assert "complete -o default -F _traindoc traindoc" in script


def test_fish_completes_commands_and_options(tmp_path: Path) -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed (CI installs it: .ci/run)")
    script = tmp_path / "traindoc.fish"
    script.write_text(run_cli("completion", "fish").stdout)
    assert subprocess.run([fish, "--no-execute", str(script)], capture_output=True).returncode == 0
    for line, expected in [
        ("traindoc pro", "probe"),
        ("traindoc probe cur", "curvature"),
        ("traindoc diagnose --ans", "--answers"),
    ]:
        proc = subprocess.run(
            [fish, "-c", f"source {script}; complete -C '{line}'"], capture_output=True, text=True
        )
        assert expected in proc.stdout, (line, proc.stdout, proc.stderr)


def test_zsh_loads_the_script(tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed (CI installs it: .ci/run)")
    script = tmp_path / "traindoc.zsh"
    script.write_text(run_cli("completion", "zsh").stdout)
    proc = subprocess.run(
        [zsh, "-f", "-c", f"source {script} && whence -w _traindoc"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0 and "function" in proc.stdout, proc.stderr
