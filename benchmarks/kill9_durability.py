"""Acknowledged answers lost over repeated kill -9s of `traindoc serve` (issue 14's "nothing acknowledged
is ever lost").

    python benchmarks/kill9_durability.py                  # 10 kills, 20 users, --sync full
    python benchmarks/kill9_durability.py --kills 5 --sync normal

Users answer as fast as they can over keep-alive connections; every `--interval` seconds the server is
killed with SIGKILL in the middle of that and restarted on the same database. An answer counts as
acknowledged only when its 200 arrived. At the end every session is read back from a fresh server and
each acknowledged answer checked. Bounded: at most 50 kills and 100 users; only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load_test import DIALOGUES, Connection, start_server, verify, wait_healthy  # noqa: E402


async def user(port_of: list[int], rng: random.Random, acknowledged: list, stop: asyncio.Event) -> int:
    """Dialogues until stopped; reconnects to whichever server is up. Returns transport errors seen."""
    errors = 0
    while not stop.is_set():
        conn = Connection(port_of[0])
        try:
            await conn.open()
            while not stop.is_set():
                status, body = await conn.request("POST", "/sessions", {})
                if status != 201:
                    break
                sid = body["id"]
                for question, value in rng.choice(DIALOGUES):
                    status, _ = await conn.request(
                        "POST", f"/sessions/{sid}/answers", {"question": question, "value": value}
                    )
                    if status != 200:
                        break
                    acknowledged.append((sid, question, value))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            await asyncio.sleep(0.05)
        finally:
            conn.close()
    return errors


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="traindoc-kill9-"))
    db = workdir / "kill9.db"
    proc, port = start_server(db, args.sync, workdir / "server.log")
    port_of = [port]
    await wait_healthy(port)
    acknowledged: list[tuple[str, str, str]] = []
    stop = asyncio.Event()
    rng = random.Random(args.seed)
    users = [
        asyncio.create_task(user(port_of, random.Random(rng.random()), acknowledged, stop))
        for _ in range(args.users)
    ]
    kills = 0
    try:
        for _ in range(args.kills):
            await asyncio.sleep(args.interval)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            proc, port = start_server(db, args.sync, workdir / f"server{kills}.log")
            port_of[0] = port
            await wait_healthy(port)
        stop.set()
        transport_errors = sum(await asyncio.gather(*users))
        lost = await verify(port, acknowledged)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return {
        "kills": kills,
        "sync": args.sync,
        "users": args.users,
        "acknowledged": len(acknowledged),
        "lost": lost,
        "interrupted_requests": transport_errors,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between kills")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--sync", choices=("full", "normal"), default="full")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not (1 <= args.kills <= 50 and 1 <= args.users <= 100 and 0.1 <= args.interval <= 60):
        raise SystemExit("bounded: 1-50 kills, 1-100 users, 0.1-60 s apart")
    started = time.monotonic()
    figures = asyncio.run(run(args))
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
