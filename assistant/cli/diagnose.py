"""`traindoc diagnose`: a whole diagnosis in one go, from answers, a history and/or measurements.

traindoc diagnose --answers answers.json --json     # from answers alone
traindoc diagnose --history run_dir/ --json         # from a training history
traindoc diagnose --setup my_setup.py:setup --json  # measure everything on your setup
traindoc diagnose --demo saddle_point               # a built-in demo
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from assistant.cli.common import configure_threads, print_json
from assistant.errors import InputError

if TYPE_CHECKING:  # imported where used: `traindoc --help` stays light (docs/startup.md)
    from assistant.models import Report
    from assistant.progress import TerminalProgress

ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    from assistant.cli import add_source_options

    p = sub.add_parser("diagnose", help="diagnose from answers, a history or measurements; print the report")
    p.add_argument("--answers", metavar="FILE", help='JSON object {"question_id": "yes"|"no"|"unsure"}')
    add_source_options(p)
    p.add_argument(
        "--classes", type=int, metavar="C", help="number of classes, for a history's ln C baseline"
    )
    p.add_argument(
        "--baseline",
        type=float,
        metavar="LOSS",
        help="the training loss that counts as good enough (history)",
    )
    p.add_argument("--json", action="store_true", help="print exactly one JSON report on stdout")
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )
    p.set_defaults(handler=run)


def build_report(args: argparse.Namespace, progress: TerminalProgress) -> Report:
    from assistant.answers_file import read_answers
    from assistant.models import AnswerSource
    from assistant.session import Session

    answers = read_answers(args.answers) if args.answers else {}
    if args.setup and args.demo:
        raise InputError("give either --setup or --demo, not both")
    if args.server:
        from assistant.cli.remote import diagnose_remote

        return diagnose_remote(args, answers, progress)
    session = Session()
    measuring = bool(args.setup or args.demo or args.history)
    if measuring:
        # user answers win over measurements; off-path ones are kept and reported, not refused
        for qid, value in answers.items():
            session.answer(qid, value, strict=False)
    else:
        session.load_answers(answers)
    if args.history:
        from assistant.evidence import apply_outcome
        from probes.history import history_outcome

        outcome = history_outcome(args.history, classes=args.classes, baseline=args.baseline)
        apply_outcome(session, outcome, AnswerSource.history)
    if args.setup or args.demo:
        from assistant.autorun import run_automatic
        from probes.context import ProbeContext

        if args.demo:
            from probes.demos import demo_setup

            setup = demo_setup(args.demo)
        else:
            from probes.setup import load_setup

            setup = load_setup(args.setup)
        run_automatic(session, ProbeContext(setup, progress=progress))
    return session.report()


def run(args: argparse.Namespace) -> int:
    from assistant.progress import TerminalProgress
    from assistant.render import report_markdown

    if args.setup or args.demo:
        configure_threads()
    enabled = {"auto": None, "always": True, "never": False}[args.progress]
    progress = TerminalProgress(enabled=enabled)
    try:
        report = build_report(args, progress)
    finally:
        progress.close()
    if args.json:
        print_json(report)
    else:
        sys.stdout.write(report_markdown(report))
    return 0
