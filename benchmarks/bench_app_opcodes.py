"""Python opcodes per request of the ASGI app, by module and by function: where the server's Python runs.

    python benchmarks/bench_app_opcodes.py                 # 100 dialogues (~500 requests)
    python benchmarks/bench_app_opcodes.py --dialogues 50 --top 60

Deterministic, like callgrind's instruction counts (docs/service.md), but at the level of Python
functions, which callgrind cannot see: `sys.settrace` with opcode events counts every bytecode the
interpreter executes in each function during the measured dialogues (the same request mix and
in-process app as benchmarks/bench_app_cpu.py, warmed first). C code (pydantic-core, SQLite, the
interpreter's own dictionaries) is not counted: use callgrind for the whole. The tracing makes the
run ~20x slower; only counts are reported, never times. Bounded: at most 2,000 dialogues.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_app_cpu import dialogues  # noqa: E402
from load_test import TOKEN  # noqa: E402

from assistant.api.app import create_app  # noqa: E402
from assistant.api.settings import Settings  # noqa: E402

counts: collections.Counter[tuple[str, str]] = collections.Counter()


def _tracer(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "call":
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
    elif event == "opcode":
        counts[(frame.f_code.co_filename, frame.f_code.co_name)] += 1
    return _tracer


def _where(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    for ours in ("assistant", "rules", "probes", "traindoc"):
        if f"/{ours}/" in filename:
            return ours + "/" + filename.split(f"/{ours}/", 1)[1]
    if "benchmarks" in filename:
        return "the benchmark's own client"
    if "python3." in filename:
        return "stdlib/" + filename.split("/lib/python3.")[1].split("/", 1)[1].split("/")[0]
    return filename


async def _run(n: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="traindoc-opcodes-"))
    app = create_app(Settings(db_path=workdir / "s.db", token=TOKEN, synchronous="normal"))
    async with app.router.lifespan_context(app):
        await dialogues(app, 100, random.Random(1))  # warm the caches, as a running server is
        sys.settrace(_tracer)
        threading.settrace(_tracer)
        try:
            return await dialogues(app, n, random.Random(0))
        finally:
            sys.settrace(None)
            threading.settrace(None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dialogues", type=int, default=100)
    p.add_argument("--top", type=int, default=40, help="functions listed")
    args = p.parse_args()
    if not 1 <= args.dialogues <= 2000:
        raise SystemExit("bounded: 1-2,000 dialogues")
    requests = asyncio.run(_run(args.dialogues))
    total = sum(counts.values())
    print(f"requests {requests}, Python opcodes per request {total / requests:.0f}")
    modules: collections.Counter[str] = collections.Counter()
    for (filename, _), c in counts.items():
        modules[_where(filename)] += c
    print("\nper request, by module:")
    for name, c in modules.most_common(25):
        print(f"{c / requests:8.1f}  {name}")
    print("\nper request, by function:")
    for (filename, function), c in counts.most_common(args.top):
        print(f"{c / requests:8.1f}  {_where(filename)}:{function}")


if __name__ == "__main__":
    main()
