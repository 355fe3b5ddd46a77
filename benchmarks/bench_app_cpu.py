"""CPU per request of the ASGI app alone (no sockets, no HTTP parser): where the server's time goes.

    python benchmarks/bench_app_cpu.py                 # 3 rounds of 2,000 dialogues' requests
    python benchmarks/bench_app_cpu.py --profile out.prof
    valgrind --tool=callgrind --instr-atstart=no python benchmarks/bench_app_cpu.py --callgrind \
        --dialogues 100 --rounds 1          # instructions of the measured rounds alone
    python benchmarks/bench_app_cpu.py --loop uvloop   # on the server's own loop (session 6)

Instruction counts (callgrind) do not depend on the machine's load, unlike CPU time: with
`--callgrind` the benchmark switches valgrind's instrumentation on (`callgrind_control -i on`) for the
measured rounds only, so imports and warm-up are neither counted nor slowed down; divide the
"Collected" Ir that valgrind prints by the "requests" this prints.

The app is driven in-process with the same request mix as benchmarks/load_test.py (create a session,
2-4 answers along a leaf path, read the report), through the real middleware, routing, validation,
engine, store (a real SQLite file, `--sync normal` to keep the disk out of it) and serialisation.
Process CPU time (not wall time) per request is reported, so other load on the machine matters less
than it does for the load test, and the event loop thread's alone (requests come one at a time here,
so every request pays a whole commit in the store's writer thread; under load one commit serves many). Bounded: at most 20,000 dialogues per round.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load_test import DIALOGUES, TOKEN  # noqa: E402

from assistant.api.app import create_app  # noqa: E402
from assistant.api.server import tune_gc  # noqa: E402
from assistant.api.settings import Settings  # noqa: E402


async def call(app, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if payload:
        headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8321),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def dialogues(app, count: int, rng: random.Random) -> int:
    requests = 0
    for _ in range(count):
        status, body = await call(app, "POST", "/sessions", {})
        assert status == 201, body
        sid = json.loads(body)["id"]
        for question, value in rng.choice(DIALOGUES):
            status, body = await call(
                app, "POST", f"/sessions/{sid}/answers", {"question": question, "value": value}
            )
            assert status == 200, body
            requests += 1
        status, _ = await call(app, "GET", f"/sessions/{sid}/report")
        assert status == 200
        requests += 2
    return requests


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="traindoc-appcpu-"))
    settings = Settings(db_path=workdir / "s.db", token=TOKEN, synchronous="normal")
    app = create_app(settings)
    rounds: list[float] = []
    requests_total = 0
    loop_rounds: list[float] = []  # the event loop's thread alone: without the store writer's commits
    async with app.router.lifespan_context(app):
        await dialogues(app, 200, random.Random(1))  # warm the caches, as a running server is
        tune_gc()  # as `traindoc serve` does
        profiler = cProfile.Profile() if args.profile else None
        for i in range(args.rounds):
            if profiler:
                profiler.enable()
            if args.callgrind:
                _instrument("on")
            started, started_loop = time.process_time(), time.thread_time()
            requests = await dialogues(app, args.dialogues, random.Random(i))
            spent, spent_loop = time.process_time() - started, time.thread_time() - started_loop
            if args.callgrind:
                _instrument("off")
            if profiler:
                profiler.disable()
            requests_total += requests
            rounds.append(spent * 1000 / requests)
            loop_rounds.append(spent_loop * 1000 / requests)
        if profiler:
            profiler.dump_stats(args.profile)
    return {
        "cpu_ms_per_request": [round(r, 3) for r in rounds],
        "median_ms": round(statistics.median(rounds), 3),
        "loop_thread_ms_per_request": [round(r, 3) for r in loop_rounds],
        "loop_thread_median_ms": round(statistics.median(loop_rounds), 3),
        "dialogues_per_round": args.dialogues,
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "requests": requests_total,
    }


def _instrument(state: str) -> None:
    """Switch callgrind's instrumentation of this process on or off (run under valgrind only)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dialogues", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", metavar="FILE", help="cProfile stats of the measured rounds")
    p.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --instr-atstart=no: count the measured rounds",
    )
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop: asyncio's (every figure before session 6) or uvloop (the server's own, session 6)",
    )
    args = p.parse_args()
    if not (1 <= args.dialogues <= 20_000 and 1 <= args.rounds <= 20):
        raise SystemExit("bounded: 1-20,000 dialogues, 1-20 rounds")
    factory = None
    if args.loop == "uvloop":  # the loop `traindoc serve` runs on when uvloop is installed (uvicorn's auto)
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        print(json.dumps(runner.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
