"""Load test: simulated users each doing full dialogues against a real `traindoc serve` on 127.0.0.1.

    python benchmarks/load_test.py                          # 200 users, closed loop (as fast as possible)
    python benchmarks/load_test.py --rate 1000              # 200 users pacing 1,000 answers/s in total
    python benchmarks/load_test.py --sync normal --json out.json
    python benchmarks/load_test.py --rate 1000 --client streams --loop asyncio   # the generator before session 6
    python benchmarks/load_test.py --rate 1000 --hostile 1100   # ...while 1,100 hostile connections
                                                                # idle, trickle headers, stall bodies

Each user opens one keep-alive connection, creates a session, answers along one of the flowchart's
seven leaf paths (2-4 answers), reads the report, and starts again until its dialogues or the time
run out. Afterwards every session is read back and each acknowledged answer checked ("lost").

The client is a minimal HTTP/1.1 speaker, not httpx: on a 2-core machine the load generator shares
the CPU with the server, and httpx's per-request overhead would measure httpx. Two of them:
`--client lean` (the default since session 6: an asyncio Protocol on uvloop, each request's head
formatted once, a 200 answer's body not parsed; ~0.12 ms of generator CPU per request) and
`--client streams --loop asyncio` (StreamReader on asyncio's loop, ~0.22 ms: every figure in
docs/service.md before session 6). Both are real clients over loopback TCP, one request at a time per
keep-alive connection, each response read whole before the next request.
Bounded: --users (default 200), --dialogues per user (default 20) and --duration (default 60 s);
only 127.0.0.1.

Besides latency, throughput, errors and lost answers, the figures say where the wall time went (Linux
/proc): the server's event loop thread and its other threads, each as CPU used and time spent waiting
for a CPU; the machine's busy, steal and idle shares; context switches and read/write system calls
per request; the load average at the start and the end. A loop thread busy nearly all the time means
the server's CPU is the limit; a large wait for a CPU means the machine is; neither, with fewer
answers than offered, means a wait inside the server (docs/service.md, "What serialized the server").

Hostile mode (--hostile N): N further connections, spread over --hostile-addresses loopback addresses
(127.0.0.10, .11, ...: distinct clients as far as the server can tell), each doing one of: connect and
send nothing; trickle a request head one byte a second; send a head announcing a body and never send
it. Each reconnects as soon as the server closes it, so the pressure lasts the whole run. The figures
then also say how many hostile connections were held at once, refused, and closed by the server, and
how long one was held before the server closed it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DIALOGUES = [
    [("train_loss_large", "yes"), ("deeper_model_worse", "no")],
    [
        ("train_loss_large", "yes"),
        ("deeper_model_worse", "yes"),
        ("gradient_norm_small", "no"),
        # asked since the flowchart checks the step size when the point is not critical
        ("learning_rate_exceeds_stability", "no"),
    ],
    [
        ("train_loss_large", "yes"),
        ("deeper_model_worse", "yes"),
        ("gradient_norm_small", "yes"),
        ("hessian_negative_eigenvalue", "yes"),
    ],
    [
        ("train_loss_large", "yes"),
        ("deeper_model_worse", "yes"),
        ("gradient_norm_small", "yes"),
        ("hessian_negative_eigenvalue", "no"),
    ],
    [("train_loss_large", "no"), ("test_loss_large", "no")],
    [("train_loss_large", "no"), ("test_loss_large", "yes"), ("val_loss_large", "yes")],
    [("train_loss_large", "no"), ("test_loss_large", "yes"), ("val_loss_large", "no")],
]
TOKEN = "load-test-token-0123456789abcdef"


class Connection:
    """One keep-alive HTTP/1.1 connection; JSON in, (status, JSON) out."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
        assert self.reader is not None and self.writer is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(data) if data else {})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class LeanConnection:
    """The same keep-alive HTTP/1.1 over loopback as `Connection`, at a fraction of its CPU (issue 19).

    Why: on a 2-core machine the generator's CPU is taken from the server's. `Connection` reads a
    response through StreamReader (a `readuntil` per header line, a future per read) and parses every
    body; measured at ~0.22 ms of the generator's CPU per request, 44 % of the server's own. Here an
    `asyncio.Protocol` collects the bytes, a request's head is formatted once per path, an answer's
    body is encoded once per (question, value), and a 200 answer's body is not parsed (its status is
    what the run checks; error bodies, creates and reports are parsed as before). Still a real client:
    a TCP connection, the same requests, the whole response read off the socket before the next one.
    """

    _HEAD = (
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN + "\r\n"
        "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    _bodies: dict[object, bytes] = {}

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.protocol: _LeanProtocol | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, self.protocol = await loop.create_connection(_LeanProtocol, "127.0.0.1", self.port)

    async def request_raw(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        assert self.transport is not None and self.protocol is not None
        payload = b""
        if body is not None:
            key = tuple(body.items()) if isinstance(body, dict) else body
            known = self._bodies.get(key)
            if known is None:
                known = self._bodies[key] = json.dumps(body).encode()
            payload = known
        head = self._HEAD.format(method=method, path=path, length=len(payload)).encode()
        waiter = self.protocol.expect()
        self.transport.write(head + payload)
        return await waiter

    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
        status, data = await self.request_raw(method, path, body)
        return status, (json.loads(data) if data else {})

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _LeanProtocol(asyncio.Protocol):
    """One response at a time: the head up to the blank line, then Content-Length bytes of body."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.need = -1  # the response's total length once its head is in

    def expect(self) -> asyncio.Future[tuple[int, bytes]]:
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self.status = int(head[9:12])
            self.body_at = end + 4
            self.need = self.body_at + length
        if len(buf) >= self.need:
            body = bytes(buf[self.body_at : self.need])
            del buf[: self.need]
            self.need = -1
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self.status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or asyncio.IncompleteReadError(bytes(self.buffer), None))


@dataclass
class Results:
    answer_latency: list[float] = field(default_factory=list)
    answer_done_at: list[float] = field(default_factory=list)
    other_latency: list[float] = field(default_factory=list)
    acknowledged: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogues: int = 0


async def user(
    port: int,
    rng: random.Random,
    results: Results,
    dialogues: int,
    stop_at: float,
    interval: float | None,
    client: str = "lean",
) -> None:
    conn: Connection | LeanConnection = LeanConnection(port) if client == "lean" else Connection(port)
    try:
        await conn.open()
    except OSError as exc:
        results.errors.append(f"connect: {exc}")
        return
    next_send = time.perf_counter() + (rng.random() * interval if interval else 0.0)

    async def paced() -> None:
        nonlocal next_send
        if interval:  # open-loop pacing: requests at scheduled times, not "as soon as the last returned"
            delay = next_send - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            next_send += interval

    try:
        for _ in range(dialogues):
            if time.perf_counter() >= stop_at:
                break
            started = time.perf_counter()
            status, body = await conn.request("POST", "/sessions", {})
            results.other_latency.append(time.perf_counter() - started)
            if status != 201:
                results.errors.append(f"create {status}: {body}")
                continue
            sid = body["id"]
            for question, value in rng.choice(DIALOGUES):
                await paced()
                started = time.perf_counter()
                answer = {"question": question, "value": value}
                if isinstance(conn, LeanConnection):  # the body is parsed only when it is an error
                    status, raw = await conn.request_raw("POST", f"/sessions/{sid}/answers", answer)
                    body = json.loads(raw) if status != 200 and raw else {}
                else:
                    status, body = await conn.request("POST", f"/sessions/{sid}/answers", answer)
                done = time.perf_counter()
                results.answer_latency.append(done - started)
                results.answer_done_at.append(done)
                if status != 200:
                    results.errors.append(f"answer {status}: {body}")
                    break
                results.acknowledged.append((sid, question, value))
            started = time.perf_counter()
            status, body = await conn.request("GET", f"/sessions/{sid}/report")
            results.other_latency.append(time.perf_counter() - started)
            if status != 200 or not body.get("complete"):
                results.errors.append(f"report {status}: complete={body.get('complete')}")
            results.dialogues += 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        results.errors.append(f"transport: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


async def verify(port: int, acknowledged: list[tuple[str, str, str]]) -> int:
    """Read every session back; count acknowledged answers missing or different."""
    by_session: dict[str, list[tuple[str, str]]] = {}
    for sid, q, v in acknowledged:
        by_session.setdefault(sid, []).append((q, v))
    lost = 0
    conns = [Connection(port) for _ in range(8)]
    for c in conns:
        await c.open()
    sids = list(by_session)

    async def check(c: Connection, part: list[str]) -> int:
        missing = 0
        for sid in part:
            status, body = await c.request("GET", f"/sessions/{sid}")
            answers = body.get("report", {}).get("answers", {}) if status == 200 else {}
            missing += sum(1 for q, v in by_session[sid] if answers.get(q, {}).get("value") != v)
        return missing

    lost = sum(await asyncio.gather(*(check(c, sids[i :: len(conns)]) for i, c in enumerate(conns))))
    for c in conns:
        c.close()
    return lost


@dataclass
class Hostile:
    held_now: int = 0
    held_max: int = 0
    opened: int = 0
    refused: int = 0  # answered 503 at once (a connection bound)
    answered: int = 0  # got some other answer (should not happen: they never finish a request)
    closed_by_server: int = 0
    held_for: list[float] = field(default_factory=list)
    connect_errors: int = 0


KINDS = ("idle", "trickle", "body")


async def hostile_connection(port: int, source: str, kind: str, stats: Hostile, stop_at: float) -> None:
    while time.perf_counter() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            stats.connect_errors += 1
            await asyncio.sleep(0.5)
            continue
        stats.opened += 1
        stats.held_now += 1
        stats.held_max = max(stats.held_max, stats.held_now)
        opened = time.perf_counter()
        try:
            if kind == "body":
                writer.write(
                    # with the token: without it the server answers 401 at once, never waiting
                    b"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"
                )
            head = b"GET /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000
            sent = 0
            while time.perf_counter() < stop_at:
                if kind == "trickle":
                    writer.write(head[sent : sent + 1])
                    sent += 1
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    continue
                if data.startswith(b"HTTP/1.1 503"):
                    stats.refused += 1
                elif data:
                    stats.answered += 1
                else:
                    stats.closed_by_server += 1
                    stats.held_for.append(time.perf_counter() - opened)
                break
        except OSError:
            stats.closed_by_server += 1
            stats.held_for.append(time.perf_counter() - opened)
        finally:
            stats.held_now -= 1
            writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def threads_sched(pid: int) -> dict[int, tuple[float, float, int, int]]:
    """Per thread of a process: (CPU s, s spent runnable but waiting for a CPU, voluntary and
    involuntary context switches), from /proc/PID/task/TID/{schedstat,status}. The waiting time is
    what a busy machine costs the server, separate from what the server itself spends."""
    out: dict[int, tuple[float, float, int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran, waited, _ = (int(x) for x in (task / "schedstat").read_text().split())
            status = dict(
                line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line
            )
        except (OSError, ValueError):  # the thread ended meanwhile, or no schedstat in this kernel
            continue
        out[int(task.name)] = (
            ran / 1e9,
            waited / 1e9,
            int(status.get("voluntary_ctxt_switches", 0)),
            int(status.get("nonvoluntary_ctxt_switches", 0)),
        )
    return out


def syscalls(pid: int) -> tuple[int, int]:
    """(read, write) system calls of a process so far (/proc/PID/io: socket sends and receives count)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def machine_ticks() -> list[int]:
    """The machine's CPU time so far by kind (/proc/stat, first line): user .. steal."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def sched_figures(
    pid: int,
    before: dict[int, tuple[float, float, int, int]],
    after: dict[int, tuple[float, float, int, int]],
    ticks: list[int],
    requests: int,
    elapsed: float,
) -> dict[str, object]:
    """Where the wall time went: the server's event loop thread (the main thread) and its other
    threads (the store's writer above all), each as CPU used and time spent waiting for a CPU;
    and the whole machine: busy (all processes), steal (the hypervisor gave the CPU to another
    machine), idle. Context switches per request count the wake-ups a request costs."""

    def delta(tid: int) -> tuple[float, ...]:
        a, b = after.get(tid), before.get(tid, (0.0, 0.0, 0, 0))
        return tuple(x - y for x, y in zip(a, b, strict=True)) if a else (0.0, 0.0, 0, 0)

    loop = delta(pid)
    others = [delta(t) for t in after if t != pid]
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    total = max(1, sum(ticks))
    n = max(1, requests)
    return {
        "server_loop_cpu_s": round(loop[0], 2),
        "server_loop_waited_for_cpu_s": round(loop[1], 2),
        "server_other_threads_cpu_s": round(sum(t[0] for t in others), 2),
        "server_other_threads_waited_for_cpu_s": round(sum(t[1] for t in others), 2),
        "server_loop_busy_fraction": round(loop[0] / elapsed, 3),
        "server_context_switches_per_request": round(
            (loop[2] + loop[3] + sum(t[2] + t[3] for t in others)) / n, 2
        ),
        "server_involuntary_switches_per_request": round((loop[3] + sum(t[3] for t in others)) / n, 2),
        "machine_busy_fraction": round((user + nice + system + irq + softirq) / total, 3),
        "machine_steal_fraction": round(steal / total, 3),
        "machine_idle_fraction": round((idle + iowait) / total, 3),
    }


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def start_server(
    db: Path,
    sync: str,
    log: Path,
    extra: list[str] | None = None,
    profile: str | None = None,
    floor: str | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "TRAINDOC_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "assistant", "serve", "--port", "0", "--db", str(db), "--sync", sync]
    if floor:  # the floor under the real server (benchmarks/server_floor.py), same traffic and figures
        script = str(Path(__file__).resolve().parent / "server_floor.py")
        store = "sqlite" if floor == "store" else "none"
        cmd = [sys.executable, script, "--port", "0", "--db", str(db), "--sync", sync, "--store", store]
    if profile:  # the stats are written when the server stops (SIGINT at the end of the run)
        code = (
            "import cProfile, sys; from assistant.cli import main; p = cProfile.Profile(); p.enable()\n"
            f"try: main(sys.argv[1:])\nfinally: p.disable(); p.dump_stats({profile!r})"
        )
        cmd[1:3] = ["-c", code]
    cmd += extra or []
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


async def wait_healthy(port: int) -> None:
    for _ in range(600):
        try:
            conn = Connection(port)
            await conn.open()
            status, _ = await conn.request("GET", "/health")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("server never became healthy")


def steady_rate(done_at: list[float]) -> float:
    """Answers per second in the middle 80% of the run: the ramp-up and the tail (users finishing
    their last dialogues at different times) would otherwise pull the average down."""
    if len(done_at) < 10:
        return float("nan")
    first, last = min(done_at), max(done_at)
    lo, hi = first + 0.1 * (last - first), last - 0.1 * (last - first)
    return sum(1 for t in done_at if lo <= t <= hi) / (hi - lo)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace) -> dict:
    load_at_start = os.getloadavg()[0]  # before our own processes add to it
    workdir = Path(tempfile.mkdtemp(prefix="traindoc-load-"))
    proc, port = start_server(
        workdir / "load.db",
        args.sync,
        workdir / "server.log",
        args.server_args.split(),
        args.profile,
        args.floor,
    )
    try:
        await wait_healthy(port)
        idle = rss_kib(proc.pid)
        results = Results()
        rng = random.Random(args.seed)
        interval = args.users / args.rate if args.rate else None  # seconds between one user's answers
        server_cpu = cpu_seconds(proc.pid)
        sched_before, ticks_before = threads_sched(proc.pid), machine_ticks()
        io_before = syscalls(proc.pid)
        own_sched_before = threads_sched(os.getpid())
        own_cpu = time.process_time()
        started = time.perf_counter()
        stop_at = started + args.duration
        hostile = Hostile()
        hostile_stop = [started + args.duration + 120]
        attackers = [
            asyncio.create_task(
                hostile_connection(
                    port, f"127.0.0.{10 + i % args.hostile_addresses}", KINDS[i % 3], hostile, hostile_stop[0]
                )
            )
            for i in range(args.hostile)
        ]
        if attackers:  # let them take their connections before the users come
            await asyncio.sleep(min(5.0, 1 + args.hostile / 500))
            started = time.perf_counter()
            stop_at = started + args.duration
        await asyncio.gather(
            *(
                user(
                    port, random.Random(rng.random()), results, args.dialogues, stop_at, interval, args.client
                )
                for _ in range(args.users)
            )
        )
        elapsed = time.perf_counter() - started
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)
        server_cpu = cpu_seconds(proc.pid) - server_cpu
        requests = len(results.answer_latency) + len(results.other_latency)
        reads, writes = (b - a for a, b in zip(io_before, syscalls(proc.pid), strict=True))
        sched = sched_figures(
            proc.pid,
            sched_before,
            threads_sched(proc.pid),
            [b - a for a, b in zip(ticks_before, machine_ticks(), strict=True)],
            requests,
            elapsed,
        )
        own_waited = sum(t[1] for t in threads_sched(os.getpid()).values()) - sum(
            t[1] for t in own_sched_before.values()
        )
        own_cpu = time.process_time() - own_cpu
        loaded = rss_kib(proc.pid)
        lost = await verify(port, results.acknowledged)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    answers = len(results.answer_latency)
    return {
        "users": args.users,
        "mode": f"paced at {args.rate:g} answers/s" if args.rate else "closed loop (no think time)",
        "sync": args.sync,
        "client": args.client,
        "server": f"floor ({args.floor}: benchmarks/server_floor.py)" if args.floor else "traindoc serve",
        "generator_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],  # what really ran
        "seconds": round(elapsed, 2),
        "dialogues": results.dialogues,
        "answers": answers,
        "answers_per_s": round(answers / elapsed, 1),
        "answers_per_s_steady": round(steady_rate(results.answer_done_at), 1),
        "requests_per_s": round((answers + len(results.other_latency)) / elapsed, 1),
        "answer_p50_ms": round(pct(results.answer_latency, 0.50), 2),
        "answer_p99_ms": round(pct(results.answer_latency, 0.99), 2),
        "answer_mean_ms": round(statistics.fmean(results.answer_latency) * 1000, 2) if answers else None,
        "other_p99_ms": round(pct(results.other_latency, 0.99), 2),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(
            server_cpu * 1000 / max(1, answers + len(results.other_latency)), 3
        ),
        "generator_cpu_s": round(own_cpu, 2),
        "generator_cpu_ms_per_request": round(own_cpu * 1000 / max(1, requests), 3),
        "generator_waited_for_cpu_s": round(own_waited, 2),
        **sched,
        "server_read_syscalls_per_request": round(reads / max(1, requests), 2),
        "server_write_syscalls_per_request": round(writes / max(1, requests), 2),
        "load_average_1min_at_start": load_at_start,
        "load_average_1min": os.getloadavg()[0],
        "errors": len(results.errors),
        "error_samples": results.errors[:5],
        "acknowledged": len(results.acknowledged),
        "lost": lost,
        "server_rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "server_rss_loaded_mib": round(loaded["VmRSS"] / 1024, 1),
        "server_rss_peak_mib": round(loaded["VmHWM"] / 1024, 1),
        "cpus": os.cpu_count(),
        **(
            {
                "hostile_connections": args.hostile,
                "hostile_addresses": args.hostile_addresses,
                "hostile_held_max": hostile.held_max,
                "hostile_opened": hostile.opened,
                "hostile_refused_503": hostile.refused,
                "hostile_answered": hostile.answered,
                "hostile_closed_by_server": hostile.closed_by_server,
                "hostile_held_p50_s": round(statistics.median(hostile.held_for), 2)
                if hostile.held_for
                else None,
                "hostile_held_max_s": round(max(hostile.held_for), 2) if hostile.held_for else None,
                "hostile_connect_errors": hostile.connect_errors,
            }
            if args.hostile
            else {}
        ),
    }


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:  # optional, as for the server: say which loop ran
            print("uvloop is not installed: the generator runs on asyncio's loop", file=sys.stderr)
            return None
        return uvloop.new_event_loop
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--dialogues", type=int, default=20, help="dialogues per user (at most)")
    p.add_argument("--duration", type=float, default=60.0, help="stop starting dialogues after this many s")
    p.add_argument("--rate", type=float, default=0.0, help="total answers/s to pace at (0: closed loop)")
    p.add_argument("--sync", choices=("full", "normal"), default="full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write the figures here")
    p.add_argument("--hostile", type=int, default=0, help="hostile connections held during the run")
    p.add_argument("--hostile-addresses", type=int, default=10, help="loopback addresses they come from")
    p.add_argument("--server-args", default="", help="extra `traindoc serve` flags, space-separated")
    p.add_argument("--profile", metavar="FILE", help="run the server under cProfile, its stats to FILE")
    p.add_argument(
        "--client",
        choices=("lean", "streams"),
        default="lean",
        help="the users' HTTP client: lean (a Protocol, default since session 6) or streams (StreamReader, "
        "as every figure before session 6 was measured)",
    )
    p.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the generator's event loop (uvloop when installed, as the server's; asyncio before session 6)",
    )
    p.add_argument(
        "--floor",
        choices=("bare", "store"),
        help="serve the same traffic from benchmarks/server_floor.py instead of `traindoc serve`: the least "
        "a Python server here spends (bare: HTTP only; store: plus traindoc's Store committing each write)",
    )
    args = p.parse_args()
    if not (0 <= args.hostile <= 20_000 and 1 <= args.hostile_addresses <= 200):
        raise SystemExit("bounded: at most 20,000 hostile connections from 1-200 addresses")
    if not (1 <= args.users <= 1000 and 1 <= args.dialogues <= 1000 and 0 < args.duration <= 600):
        raise SystemExit("bounded: 1-1000 users, 1-1000 dialogues each, at most 600 s")
    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        figures = runner.run(run(args))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
