"""The `traindoc` command. Each subcommand lives in its own module of this package, with
`register(subparsers)` and an `ORDER` number that places it in --help.

`traindoc` with no subcommand starts the terminal UI.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from assistant.cli.common import EXIT_USAGE, guarded


def _command_modules() -> list:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            mods.append(module)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"traindoc: {message} (see traindoc --help)\n")
        raise SystemExit(EXIT_USAGE)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """What the assistant can measure or read: shared by the TUI and `diagnose`."""
    parser.add_argument(
        "--setup", metavar="FILE.py:FUNC", help="your training setup (a function returning probes.Setup)"
    )
    parser.add_argument("--demo", metavar="NAME", help="a built-in demo setup (see `traindoc demos`)")
    parser.add_argument(
        "--history",
        metavar="PATH",
        help="a training history: file, run directory or mlflow://HOST:PORT/RUN_ID",
    )
    parser.add_argument(
        "--server", metavar="URL", help="talk to a running `traindoc serve` instead of an in-process one"
    )
    parser.add_argument("--token", metavar="TOKEN", help="bearer token for --server (or TRAINDOC_TOKEN)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="traindoc",
        description="Diagnose why a neural network trains badly: answer, or let it measure.",
    )
    add_source_options(parser)
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="ID",
        help="continue the last session (or session ID, e.g. a watched run's) in the terminal UI",
    )
    from traindoc import __version__

    parser.add_argument("--version", action="version", version=f"traindoc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        module.register(sub)
    from assistant.cli.help_text import apply

    apply(parser)  # every command's description and examples
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from traindoc._packages import ShadowedPackageError, check_packages

    try:  # a rules.py or probes/ in the working directory, or django-rules: one line, not a traceback
        check_packages()
    except ShadowedPackageError as exc:
        sys.stderr.write(f"traindoc: {exc.message}\n")
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from assistant.cli.tui_entry import run_tui

        return guarded(lambda: run_tui(args))
    return guarded(lambda: handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
