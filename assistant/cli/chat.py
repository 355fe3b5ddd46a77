"""`traindoc chat --jsonl`: one JSON message per line in, one JSON event per line out.

Messages: {"type": "answer"|"change", "question": ID, "value": "yes"|"no"|"unsure"},
{"type": "withdraw", "question": ID}, {"type": "undo"}, {"type": "report"}.
Events: question, answer, finding, finding_withdrawn, report, error (see `traindoc schema --kind event`).
A bad line yields an error event and changes nothing; the conversation goes on.
"""

from __future__ import annotations

import argparse
import sys

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="hold a diagnosis over a line protocol (for editors and notebooks)")
    p.add_argument("--jsonl", action="store_true", required=True, help="JSON lines on stdin/stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from assistant.dialogue import Dialogue
    from assistant.session import Session

    dialogue = Dialogue(Session())
    out = sys.stdout

    def emit(events: list) -> None:
        for event in events:
            out.write(event.model_dump_json() + "\n")
        out.flush()

    emit(dialogue.start())
    for line in sys.stdin:
        if line.strip():
            emit(dialogue.handle_raw(line))
    return 0
