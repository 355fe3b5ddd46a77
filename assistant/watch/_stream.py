"""Points streamed to a running service while the run trains (`server=`): the curve grows there as it
grows here, so a team can follow several runs from one place.

The training loop only appends to a bounded buffer (a lock and a list append per point); a background
thread sends the buffer every `interval` seconds in one request (`POST /sessions/{id}/points`). A slow
or dead server therefore never slows or stops training: the thread waits for it, not the loop, and
points that cannot be sent (the request failed, or the buffer is full while the thread waits) are
dropped and counted. The first failure is said in one line; the count is in the report (`stream`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

Point = tuple[str, float, float | None]


class Streamer:
    def __init__(
        self,
        server: str,
        token: str | None,
        emit: Callable[[str, str], None],
        *,
        interval: float = 2.0,
        capacity: int = 20_000,  # points held while the server is slow; the most one request carries
        timeout: float = 5.0,
    ) -> None:
        self.server, self.token, self.emit = server, token, emit
        self.interval, self.capacity, self.timeout = interval, capacity, timeout
        self.session_id: str | None = None
        self.sent = 0
        self.dropped = 0
        self.requests = 0
        self.failures = 0
        self.error: str | None = None
        self._points: list[Point] = []
        self._alerts: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="traindoc-stream", daemon=True)
        self._thread.start()

    # -- the training loop's side: O(1), never waits for the network --------------------------------

    def point(self, name: str, step: float, value: float) -> None:
        with self._lock:
            if len(self._points) >= self.capacity:
                self.dropped += 1
                return
            self._points.append((name, float(step), value if math.isfinite(value) else None))

    def alert(self, message: str) -> None:
        with self._lock:
            if len(self._alerts) < 50:
                self._alerts.append(message)

    def close(self, timeout: float = 10.0) -> dict[str, Any]:
        """Send what is left (waiting at most `timeout` s), stop the thread; returns the report's
        `stream` entry."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():  # the server hangs: what is still buffered will not arrive
            with self._lock:
                self.dropped += len(self._points)
                self._points = []
            self.error = self.error or f"no answer within {timeout:g} s at the end"
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "session_id": self.session_id,
            "points_sent": self.sent,
            "points_dropped": self.dropped,
            "requests": self.requests,
            "failures": self.failures,
            "error": self.error,
        }

    # -- the background thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        from assistant.client import TraindocClient, default_token

        # no retries: a batch that failed is dropped, the next one is tried at the next interval
        try:
            client = TraindocClient(
                self.server, token=self.token or default_token(), timeout=self.timeout, retries=0
            )
        except Exception as exc:  # a blank token: said once, nothing is sent
            self.error = getattr(exc, "message", None) or str(exc)
            self.emit("warning", f"traindoc: not streaming to {self.server}: {self.error}")
            self._stop.wait()
            with self._lock:
                self.dropped += len(self._points)
                self._points = []
            return
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                self._send(client)
                if stopping:
                    return
        finally:
            client.close()

    def _send(self, client: Any) -> None:
        with self._lock:
            points, self._points = self._points, []
            alerts, self._alerts = self._alerts, []
        if not points and not alerts and self.session_id is not None:
            return
        self.requests += 1
        try:
            if self.session_id is None:
                self.session_id = client.create_session().id
            client.append_points(self.session_id, points, alerts)
            self.sent += len(points)
        except Exception as exc:  # any failure: this batch is lost, training is not
            self.failures += 1
            with self._lock:
                self.dropped += len(points)
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = getattr(exc, "message", None) or text
            if self.error is None:
                self.error = message
                self.emit(
                    "warning",
                    f"traindoc: streaming to {self.server} failed ({message}): {len(points)} points dropped, "
                    "training goes on; later batches are tried again, the count is in the report",
                )
