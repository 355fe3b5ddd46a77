"""`traindoc chat --jsonl`: one JSON message per line in, one JSON event per line out.

Messages: {"type": "answer"|"change", "question": ID, "value": "yes"|"no"|"unsure"},
{"type": "withdraw", "question": ID}, {"type": "undo"}, {"type": "report"}.
Events: question, answer, finding, finding_withdrawn, report, complete, error (see
`traindoc schema --kind event`). `complete` carries the report when the walk reaches its end.
A bad line yields an error event and changes nothing; the conversation goes on.

The sources are those of `diagnose`: --history answers what the history can, --setup / --demo
measure what the path needs (both before the first event), and the lines answer the rest.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a command runs, not for `traindoc --help` (docs/startup.md)
    from assistant.session import Session

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    from assistant.cli import add_source_options

    p = sub.add_parser("chat", help="hold a diagnosis over a line protocol (for editors and notebooks)")
    p.add_argument("--jsonl", action="store_true", required=True, help="JSON lines on stdin/stdout")
    add_source_options(p)
    p.add_argument(
        "--classes", type=int, metavar="C", help="number of classes, for a history's ln C baseline"
    )
    p.add_argument(
        "--baseline", type=float, metavar="LOSS", help="the training loss that counts as good enough"
    )
    p.set_defaults(handler=run)


def measured_session(args: argparse.Namespace) -> Session:
    """A session with what the sources can answer already in it (as `diagnose` measures)."""
    from assistant.errors import InputError
    from assistant.session import Session

    session = Session()
    if getattr(args, "server", None):
        raise InputError(
            "chat --jsonl runs locally; for a server use its API (see docs/service.md)", field="server"
        )
    if args.setup and args.demo:
        raise InputError("give either --setup or --demo, not both", field="demo")
    if args.history:
        from assistant.evidence import apply_outcome
        from assistant.models import AnswerSource
        from probes.history import history_outcome

        outcome = history_outcome(args.history, classes=args.classes, baseline=args.baseline)
        apply_outcome(session, outcome, AnswerSource.history)
    if args.setup or args.demo:
        from assistant.autorun import run_automatic
        from assistant.cli.common import configure_threads
        from assistant.progress import TerminalProgress
        from probes.context import ProbeContext
        from probes.setup import load_checked

        configure_threads()
        setup = load_checked(args.setup or f"demo:{args.demo}")
        progress = TerminalProgress(enabled=None)  # on stderr, only when it is a terminal
        try:
            run_automatic(session, ProbeContext(setup, progress=progress))
        finally:
            progress.close()
    return session


def run(args: argparse.Namespace) -> int:
    from assistant.dialogue import Dialogue

    session = measured_session(args)
    dialogue = Dialogue(session)
    out = sys.stdout

    def emit(events: list) -> None:
        for event in events:
            out.write(event.model_dump_json() + "\n")
        out.flush()

    # what the history or the measurements answered comes first, as answer events with their evidence
    from assistant.models import AnswerRecorded

    emit([AnswerRecorded(answer=a) for a in session.report().answers.values()])
    emit(dialogue.start())
    for line in sys.stdin:
        if line.strip():
            emit(dialogue.handle_raw(line))
    return 0
