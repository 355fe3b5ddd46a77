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

from assistant.cli.common import add_executor_arguments, configure_threads, executor_choice, print_json
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
    from assistant.cli.history import add_history_options

    add_history_options(p)  # the same facts `traindoc history` takes, for --history
    p.add_argument("--json", action="store_true", help="print exactly one JSON report on stdout")
    p.add_argument(
        "--try-remedies",
        action="store_true",
        help="with --setup/--demo: also try the findings' remedies and measure them (JSON key 'remedies')",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )
    add_executor_arguments(p)  # with --setup/--demo: the probes' trainings here or on Ray
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
        from assistant.cli.history import history_options
        from assistant.evidence import apply_outcome
        from probes.history import history_outcome

        outcome = history_outcome(args.history, **history_options(args))
        apply_outcome(session, outcome, AnswerSource.history)
    if args.setup or args.demo:
        from assistant.autorun import run_automatic
        from probes.context import ProbeContext

        if args.demo:
            from probes.demos import demo_setup

            setup = demo_setup(args.demo)
        else:
            from probes.setup import load_checked

            setup = load_checked(args.setup)  # a broken setup: one line and exit 2, not an empty report
        ctx = ProbeContext(setup, progress=progress, executor=executor_choice(args))
        args.probe_context = ctx  # --try-remedies reuses the trained model
        run_automatic(session, ctx)
    return session.report()


def run(args: argparse.Namespace) -> int:
    from assistant.progress import TerminalProgress
    from assistant.render import report_markdown

    if args.setup or args.demo:
        configure_threads()
    if getattr(args, "try_remedies", False) and (args.server or not (args.setup or args.demo)):
        raise InputError("--try-remedies needs --setup or --demo (and runs locally, without --server)")
    if (args.executor or args.workers) and (args.server or not (args.setup or args.demo)):
        raise InputError(
            "--executor and --workers need --setup or --demo (and run from here, without --server)"
        )
    executor_choice(args)  # a bad --executor or --workers: one line before anything is trained
    enabled = {"auto": None, "always": True, "never": False}[args.progress]
    progress = TerminalProgress(enabled=enabled)
    remedies = None
    try:
        report = build_report(args, progress)
        if getattr(args, "try_remedies", False):
            from assistant.remedies import findings_to_treat
            from probes.remedies.run import try_remedies

            workers = args.workers or 1  # on Ray: this many trials at once
            remedies = try_remedies(args.probe_context, findings_to_treat(report), workers=workers)
    finally:
        progress.close()
    if args.json and remedies is not None:
        payload = {**report.model_dump(mode="json"), "remedies": remedies.model_dump(mode="json")}
        import json  # here, not at the top: `traindoc --help` does not need it

        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    elif args.json:
        print_json(report)
    else:
        sys.stdout.write(report_markdown(report))
        if remedies is not None:
            from assistant.remedies import remedies_markdown

            sys.stdout.write("\n" + remedies_markdown(remedies))
    return 0
