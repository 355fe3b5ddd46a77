"""`traindoc serve`: the HTTP API, for the TUI on a laptop and scripts next to the GPU box.

traindoc serve                                     # 127.0.0.1:8321, sessions in $TRAINDOC_HOME/sessions.db
traindoc serve --setup mnist=setups/mnist.py:setup --setup saddle=demo:saddle_point
traindoc serve --host 0.0.0.0 --config traindoc.toml   # non-loopback: TRAINDOC_TOKEN must be set

Clients name the setups and histories registered here; they can never make the server import a path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

# assistant.api.settings holds the port too (DEFAULT_PORT, a test checks they agree); importing it here
# would cost pydantic on every `traindoc --help` (docs/startup.md)
DEFAULT_PORT = 8321

ORDER = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (sessions, answers, probe jobs)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; anything else needs a token)")
    p.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--db", metavar="PATH", help="session database (default $TRAINDOC_HOME/sessions.db)")
    p.add_argument("--token", help="bearer token clients must send (prefer TRAINDOC_TOKEN: argv is visible)")
    p.add_argument(
        "--setup",
        action="append",
        metavar="NAME=SPEC",
        help="register a setup: FILE.py:FUNC, module:FUNC or demo:NAME",
    )
    p.add_argument("--history", action="append", metavar="NAME=PATH", help="register a training history")
    p.add_argument("--config", metavar="FILE", help="a traindoc.toml (flags override it)")
    p.add_argument(
        "--job-timeout", type=float, metavar="SECONDS", help="longest a probe job may run (default 1800)"
    )
    p.add_argument("--jobs", type=int, metavar="N", help="probe jobs run at the same time (default 1)")
    p.add_argument(
        "--queue", type=int, metavar="N", help="probe jobs that may wait (default 8; more get 429)"
    )
    p.add_argument(
        "--job-memory",
        type=int,
        metavar="MB",
        help="memory a probe may add before it fails (default 4096; 0: no cap)",
    )
    p.add_argument("--max-body", type=int, metavar="BYTES", help="largest request body (default 262144)")
    p.add_argument(
        "--sync",
        choices=("full", "normal"),
        help="full (default): fsync each commit, safe against power loss; normal: safe against crashes only",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="a Host header name to answer (repeatable; default: loopback names and the bound address; * for any)",
    )
    p.add_argument(
        "--head-timeout", type=float, metavar="SECONDS", help="time a request's head may take (default 10)"
    )
    p.add_argument(
        "--body-timeout", type=float, metavar="SECONDS", help="time a request's body may take (default 30)"
    )
    p.add_argument(
        "--allow-executor",
        action="append",
        metavar="EXECUTOR",
        help="let clients run probes' trainings and products on EXECUTOR (ray, ray://HOST:PORT, or * "
        "for any); repeatable (default: local only)",
    )
    p.add_argument("--max-connections", type=int, metavar="N", help="connections held in all (default 4096)")
    p.add_argument(
        "--max-client-connections",
        type=int,
        metavar="N",
        help="connections one address may hold (default 256)",
    )
    p.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace):  # -> Settings (imported lazily with the API)
    from assistant.api.settings import build_settings, load_config, parse_pairs, resolve_registrations

    fields = load_config(args.config) if args.config else {}
    setups, histories = resolve_registrations(
        parse_pairs(args.setup, "setup"), parse_pairs(args.history, "history"), Path.cwd()
    )
    fields.setdefault("setups", {}).update(setups)
    fields.setdefault("histories", {}).update(histories)
    token = args.token or os.environ.get("TRAINDOC_TOKEN") or fields.get("token")
    return build_settings(
        **{
            **fields,
            "host": args.host or fields.get("host"),
            "port": args.port if args.port is not None else fields.get("port"),
            "db_path": Path(args.db) if args.db else fields.get("db_path"),
            "token": token,
            "job_timeout_s": args.job_timeout or fields.get("job_timeout_s"),
            "job_workers": args.jobs or fields.get("job_workers"),
            "job_queue": args.queue if args.queue is not None else fields.get("job_queue"),
            "job_memory_mb": args.job_memory if args.job_memory is not None else fields.get("job_memory_mb"),
            "max_body_bytes": args.max_body or fields.get("max_body_bytes"),
            "synchronous": args.sync or fields.get("synchronous"),
            "access_log": args.access_log or None,
            "allowed_hosts": args.allow_host or fields.get("allowed_hosts"),
            "head_timeout_s": args.head_timeout or fields.get("head_timeout_s"),
            "body_timeout_s": args.body_timeout or fields.get("body_timeout_s"),
            "max_connections": args.max_connections or fields.get("max_connections"),
            "executors": ["local", *args.allow_executor] if args.allow_executor else fields.get("executors"),
            "max_connections_per_client": args.max_client_connections
            or fields.get("max_connections_per_client"),
        }
    )


def run(args: argparse.Namespace) -> int:
    from assistant.api.server import serve

    settings = settings_from_args(args)
    if settings.setups:
        from probes.setup import load_checked

        # a setup that does not import or build is refused at start, not at a probe; its forward
        # pass is checked in each job's child process (user code never runs in the server's)
        for spec in settings.setups.values():
            load_checked(spec, run_batch=False)

    def announce(url: str) -> None:
        names = ", ".join(settings.setups) or "none"
        sys.stderr.write(
            f"traindoc: serving on {url} (setups: {names}; database {settings.db_path}"
            f"{'; token required' if settings.token else ''})\n"
        )
        sys.stderr.flush()

    # Ctrl+C is how a server is meant to stop: uvicorn re-raises it once the shutdown is done
    with contextlib.suppress(KeyboardInterrupt):
        serve(settings, announce)
    sys.stderr.write("traindoc: stopped\n")
    return 0
