"""A real `traindoc serve` on 127.0.0.1 in a subprocess, for every service test.

The server binds port 0 (the kernel picks a free port) and announces its URL on stderr; readiness is
then checked by polling /health, never by sleeping and hoping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

SETUPS = Path(__file__).with_name("setups.py")
TOKEN = "service-tests-token-0123456789"
SETUP_NAMES = ("quick", "slow", "raises", "hangs", "hog", "dies")


class ServerProcess:
    """`python -m assistant serve ...` with its log in a file (a pipe nobody reads would fill up)."""

    def __init__(
        self, db: Path, *extra: str, token: str | None = TOKEN, env: dict[str, str] | None = None
    ) -> None:
        self.db = db
        self.extra = list(extra)
        self.token = token
        self.env = env or {}
        self.log = db.with_suffix(f".{os.getpid()}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def args(self) -> list[str]:
        out = [sys.executable, "-m", "assistant", "serve", "--port", "0", "--db", str(self.db)]
        for name in SETUP_NAMES:
            out += ["--setup", f"{name}={SETUPS}:{name}"]
        return out + self.extra

    def start(self, timeout: float = 60) -> ServerProcess:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _start(self, timeout: float) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        if self.token:
            env["TRAINDOC_TOKEN"] = self.token
        else:
            env.pop("TRAINDOC_TOKEN", None)
        offset = self.log.stat().st_size if self.log.exists() else 0  # a restart appends to the log
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=log, cwd=REPO, env=env)
        deadline = time.monotonic() + timeout
        while not self.url:
            found = re.search(
                r"serving on (http://\S+)", self.log.read_bytes()[offset:].decode(errors="replace")
            )
            if found:
                self.url = found.group(1)
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text(errors='replace')}")
            else:
                time.sleep(0.05)
        while True:  # readiness: /health answers
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server never became healthy:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def client(self, token: str | None = "default") -> httpx.Client:
        headers = {}
        token = self.token if token == "default" else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.url = ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.url = ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module: token required, all test setups registered."""
    db = tmp_path_factory.mktemp("service") / "sessions.db"
    srv = ServerProcess(db, "--job-timeout", "60", "--queue", "8").start()
    yield srv
    srv.stop()


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra servers with their own flags; every one is stopped at teardown, pass or fail."""
    started: list[ServerProcess] = []

    def spawn(*extra: str, name: str = "extra") -> ServerProcess:
        srv = ServerProcess(tmp_path / f"{name}.db", *extra)
        started.append(srv)
        return srv.start()

    yield spawn
    for srv in started:
        srv.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def new_session(http: httpx.Client, **body: str) -> str:
    r = http.post("/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_for_status(http: httpx.Client, job_id: str, statuses: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def job_processes(job_id: str) -> list[int]:
    """Pids of live processes running the probe job `job_id` (found by the env var the runner sets)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if f"TRAINDOC_JOB_ID={job_id}".encode() in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids
