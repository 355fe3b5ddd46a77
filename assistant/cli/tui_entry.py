"""`traindoc` with no subcommand: the terminal UI.

It builds the client (an in-process service by default, `--server URL` for a remote one), checks what
a user can get wrong before the screen takes over (a bad demo name, a missing file, an unreachable
server: one line, exit 2), runs the app, and closes the client (which stops an embedded service).
"""

from __future__ import annotations

import argparse
import os
import sys

from assistant.errors import InputError

DEFAULT = "default"  # the name the TUI's own setup / history get in the embedded service


def _check_demo(name: str) -> None:
    # Importing the demos pulls in torch (~2 s), but only for --demo, and a typo must fail here,
    # not at the first probe inside the UI.
    from probes.base import ProbeError
    from probes.demos import DEMOS

    if name not in DEMOS:
        raise ProbeError(
            f"unknown demo {name!r} (known: {', '.join(DEMOS)}; see `traindoc demos`)", field="demo"
        )


def build_client(args: argparse.Namespace):  # -> tuple[TraindocClient, str | None, str | None, str]
    """The client, the setup and history NAMES it knows them by, and a label for the header."""
    from assistant.client import TraindocClient

    setup_arg, demo, history = (
        getattr(args, "setup", None),
        getattr(args, "demo", None),
        getattr(args, "history", None),
    )
    if setup_arg and demo:
        raise InputError("give either --setup or --demo, not both", field="demo")
    if args.server:
        if demo:
            raise InputError(
                "--demo runs locally; with --server, name a setup registered on the server with --setup NAME",
                field="demo",
            )
        token = args.token or os.environ.get("TRAINDOC_TOKEN") or None
        client = TraindocClient(args.server, token=token)
        try:
            client.health()
            _check_registered("setup", setup_arg, [s.name for s in client.list_setups()])
            _check_registered("history", history, [h.name for h in client.list_histories()])
        except BaseException:
            client.close()
            raise
        return client, setup_arg, history, setup_arg or ""
    spec = setup_arg or (f"demo:{demo}" if demo else None)
    if demo:
        _check_demo(demo)
    if spec:
        from probes.setup import load_checked

        load_checked(spec)  # the same check as the CLI's: a broken setup is refused before the screen
    client = TraindocClient.embedded(
        setups={DEFAULT: spec} if spec else None,
        histories={DEFAULT: history} if history else None,
    )
    return client, DEFAULT if spec else None, DEFAULT if history else None, spec or ""


def _sources_of(args: argparse.Namespace) -> dict[str, str]:
    from tui.session_store import absolute_sources

    if args.server:  # names on a server, not files here
        return {}
    return absolute_sources(getattr(args, "setup", None), getattr(args, "demo", None), args.history)


def _check_registered(kind: str, name: str | None, registered: list[str]) -> None:
    if name and name not in registered:
        known = ", ".join(registered) or "none"
        raise InputError(f"{kind} {name!r} is not registered on the server (registered: {known})", field=kind)


def resumed_sources(args: argparse.Namespace, client) -> bool:  # client: TraindocClient
    """`--resume` alone: take the latest session's setup / demo / history into `args` (as it was
    started); True when there were any. The caller rebuilds the client, which checks them again."""
    from tui import session_store

    if not args.resume or args.server or args.setup or args.demo or args.history:
        return False
    if isinstance(args.resume, str):  # --resume ID: that session's sources
        saved = session_store.load_sources(args.resume)
    else:
        sessions = client.list_sessions(limit=1)
        saved = session_store.load_sources(sessions[0].id) if sessions else {}
    if not saved:
        return False
    args.setup, args.demo, args.history = saved.get("setup"), saved.get("demo"), saved.get("history")
    return True


def run_tui(args: argparse.Namespace) -> int:
    client, setup, history, label = build_client(args)  # bad arguments fail first, terminal or not
    try:
        if isinstance(args.resume, str):  # --resume ID: an unknown session is one line, not a screen
            client.get_session(args.resume)
        again = resumed_sources(args, client)
    except BaseException:
        client.close()
        raise
    if again:  # the embedded service registers its sources at start: start it with the saved ones
        client.close()
        client, setup, history, label = build_client(args)
    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise InputError(
                "the terminal UI needs a terminal; in scripts use `traindoc diagnose --json` or `traindoc chat --jsonl`"
            )
        from tui import TraindocApp

        app = TraindocApp(
            client,
            setup=setup,
            history=history,
            resume=bool(args.resume),
            label=label,
            history_label=getattr(args, "history", None) or "",
            sources=_sources_of(args),
            session_id=args.resume if isinstance(args.resume, str) else None,
        )
        app.run()
        if args.server:  # a remote probe would run on; an embedded one ends with the service (close)
            app.cancel_left_behind()  # the screen is gone already: a probe's slow stop is no wait on it
    finally:
        client.close()
    return app.return_code or 0
