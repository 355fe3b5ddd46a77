"""`traindoc diagnose --server URL`: the same diagnosis, run by a `traindoc serve` elsewhere.

With --server, `--setup NAME` and `--history NAME` name entries registered on that server (see
`traindoc serve --setup NAME=FILE.py:FUNC`); nothing local is imported or read except --answers.
The session stays on the server (the report's `session_id` names it) for later reading.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.errors import InputError, OffPathAnswer, TraindocError

if TYPE_CHECKING:  # the CLI imports every command module to build its parser: keep httpx out of it
    from assistant.client import TraindocClient
    from assistant.models import Report
    from probes.base import ProbeProgress


def diagnose_remote(
    args: argparse.Namespace, answers: dict[str, str], progress: Callable[[ProbeProgress], None]
) -> Report:
    if getattr(args, "demo", None):
        raise InputError(
            "--demo runs locally; with --server, name a setup registered on the server with --setup NAME",
            field="demo",
        )
    from assistant.client import TraindocClient

    token = getattr(args, "token", None) or os.environ.get("TRAINDOC_TOKEN") or None
    with TraindocClient(args.server, token=token) as client:
        session = client.create_session(setup=args.setup, history=args.history)
        measuring = bool(args.setup or args.history)
        try:
            left = _answer_all(client, session.id, answers, strict=not measuring)
        except InputError:
            client.delete_session(session.id)  # refused answers: leave no half-made session behind
            raise
        if args.history:
            client.apply_history(session.id, args.history)
        if args.setup:
            job = client.start_job(session.id, "auto")
            for event in client.follow_job(job.id):
                if event.progress is not None:
                    progress(event.progress)
                if event.kind == "done" and event.job is not None and event.job.status != "done":
                    raise TraindocError(
                        f"the automatic diagnosis {event.job.status}: {event.job.error or 'no reason given'}"
                    )
        _answer_after_measuring(client, session.id, left)
        return client.report(session.id)


def _answer_all(
    client: TraindocClient, session_id: str, answers: dict[str, str], *, strict: bool
) -> dict[str, str]:
    """Answer in the order the path allows: an answer is only accepted once its question is asked.

    Like a local `diagnose --answers`: without measurements an answer the path never reaches is an
    error; with them it is left for the measurements (the local run keeps it inactive instead).
    """
    left = dict(answers)
    while left:
        progressed = False
        for question, value in list(left.items()):
            try:
                client.answer(session_id, question, value)
            except OffPathAnswer:  # by class (its code on the wire), never by the message's words
                continue
            del left[question]
            progressed = True
        if not progressed:
            break
    if left and strict:
        raise OffPathAnswer(
            "; ".join(f"{q} is not asked on the current path" for q in left), field=next(iter(left))
        )
    return left


def _answer_after_measuring(client: TraindocClient, session_id: str, left: dict[str, str]) -> None:
    """Answers the path reached only through measurements: the user's answer wins over the probe's."""
    for question, value in left.items():
        current = client.get_session(session_id).report.answers.get(question)
        try:
            if current is None:
                client.answer(session_id, question, value)
            elif current.value != value:
                client.change(session_id, question, value)
        except OffPathAnswer:
            sys.stderr.write(f"traindoc: your answer to {question} was not used: the path never asks it\n")
