"""Running the app under uvicorn: `serve` for `traindoc serve`, `EmbeddedServer` for the in-process
service the TUI and `TraindocClient.embedded()` use.

We bind the socket ourselves, so `--port 0` works (the kernel picks a free port) and the real address
is known and announced. The embedded server listens on an ephemeral 127.0.0.1 port in a background
thread: real HTTP, so server-sent events really stream (httpx's ASGITransport would buffer them).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
import uvicorn.config

from assistant.api.app import create_app
from assistant.api.connections import ConnectionLimits, default_base, protocol_class
from assistant.api.settings import Settings
from assistant.errors import InputError, ServiceUnavailable
from assistant.store import Store


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every response waits ~40 ms for a delayed ACK (measured)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn, telling us once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # event streams never end by themselves: end them first, so uvicorn's wait for open
        # connections is short and nothing is cancelled mid-response
        jobs = getattr(getattr(self.config.app, "state", None), "jobs", None)
        if jobs is not None:
            jobs.close_streams()
        await super().shutdown(sockets)


def _log_config(log_file: Path | None) -> dict[str, Any]:
    """uvicorn's logging, plus our `traindoc` loggers; to a file for the embedded server, whose
    process owns the terminal (a TUI must never get log lines written over its screen)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    if log_file is not None:
        for name in ("default", "access"):
            config["handlers"][name] = {
                "formatter": name,
                "class": "logging.FileHandler",
                "filename": str(log_file),
                "delay": True,
            }
        config["formatters"]["default"]["use_colors"] = False
        config["formatters"]["access"]["use_colors"] = False
    config["loggers"]["traindoc"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def limits_of(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        head_timeout_s=settings.head_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=min(settings.max_connections, _descriptor_room()),
        max_connections_per_client=settings.max_connections_per_client,
    )


def _descriptor_room() -> int:
    """Connections the process can hold: its file descriptor limit, less some for the database,
    the probe pipes and the logs (an accept that fails with EMFILE would stall the whole server)."""
    try:
        import resource

        return max(16, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 128)
    except (ImportError, OSError, ValueError):
        return 1024


def raise_descriptor_limit() -> None:
    """The soft limit up to the hard one (1024 soft is common): connections are cheap, descriptors not."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, OSError, ValueError):
        pass


def _config(settings: Settings, log_level: str, log_file: Path | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        http=protocol_class(default_base(), limits_of(settings)),
        log_config=_log_config(log_file),
        log_level=log_level,
        access_log=settings.access_log,
        lifespan="on",
        # event streams never end on their own: give them 3 s to notice a shutdown, then cut them
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
        server_header=False,
        # no limit_concurrency: it answers 503 to every request once that many connections are open,
        # so idle clients lock everyone out; assistant/api/connections.py bounds connections instead
        limit_concurrency=None,
    )


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server process.

    Every request allocates thousands of short-lived containers (pydantic models, dicts), so the
    default gen-0 threshold (700) runs collections constantly, and each full collection walked every
    object loaded at start-up (FastAPI's and pydantic's schemas, the knowledge base). Freezing the
    start-up heap and collecting less often cut the server's CPU per request by about a quarter in
    benchmarks/load_test.py (0.56 -> 0.40 ms). Only `traindoc serve` does this: it owns its process;
    the embedded server lives in someone else's.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


SWITCH_INTERVAL_S = 0.001


def tune_switching() -> None:
    """Let the store's writer thread win the interpreter lock back sooner.

    Every SQLite statement the writer runs releases the lock; to get it back while the event loop
    thread is busy the writer waits up to `sys.getswitchinterval()` (5 ms by default) before forcing
    a switch. Under load that wait, once per statement, is what the writer spent most of its time on:
    0.33 ms per unit of work with 5 ms, 0.08 ms with 1 ms (docs/service.md, "What serialized the
    server"). Only `traindoc serve` does this: it owns its process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def serve(settings: Settings, announce: Callable[[str], None], log_level: str = "warning") -> None:
    """Run until interrupted. The database is opened once first so its errors are one line, not a log."""
    settings.check()
    Store(settings.db_path, synchronous=settings.synchronous).open().close()
    raise_descriptor_limit()
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    server = _Server(_config(settings, log_level), lambda: announce(url))
    tune_gc()
    tune_switching()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise ServiceUnavailable("the service failed to start (see the log above)")


class EmbeddedServer:
    """The service on 127.0.0.1:<ephemeral> in a daemon thread of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"host": "127.0.0.1", "port": 0})
        self.url = ""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None

    def start(self, timeout: float = 60.0) -> str:
        self.settings.check()
        sock = bind("127.0.0.1", 0)
        self.url = url_of(sock)
        log_file = Path(self.settings.db_path).parent / "service.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._server = _Server(_config(self.settings, "warning", log_file), self._ready.set)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="traindoc-embedded-server", daemon=True
        )
        self._thread.start()
        while not self._ready.wait(0.05):
            if not self._thread.is_alive():
                raise ServiceUnavailable(
                    f"the embedded traindoc service failed to start (database {self.settings.db_path})"
                )
            timeout -= 0.05
            if timeout <= 0:
                self.stop()
                raise ServiceUnavailable("the embedded traindoc service did not start in time")
        return self.url

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
