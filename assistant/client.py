"""The one client for the traindoc API (synchronous, on httpx): the TUI, `diagnose --server` and scripts.

Every failure is a `traindoc.errors` exception with a one-line message: for an error answer, the class the
body's `code` names (the server raised the same class) with the server's own message, and
`ServiceUnavailable` naming the URL when the server cannot be reached. Connection
failures are retried (`httpx.HTTPTransport(retries=n)` retries connecting only, so a request that
reached the server is never sent twice).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import TypeAdapter

from assistant.errors import InputError, ServiceUnavailable, TraindocError
from assistant.models import Report
from assistant.service_models import (
    HistoryPublic,
    PointsPage,
    ProbeJob,
    ProbeJobEvent,
    SessionCurves,
    SessionPublic,
    SessionSummary,
    SetupPublic,
)
from traindoc.errors import error_class

if TYPE_CHECKING:
    from probes.base import ProbeOutcome

# a stream's read timeout is the longest gap between two chunks; the server sends a keep-alive every
# 10 s, so 60 s of silence means the connection is dead
STREAM_READ_TIMEOUT_S = 60.0

_setups = TypeAdapter(list[SetupPublic])
_histories = TypeAdapter(list[HistoryPublic])
_summaries = TypeAdapter(list[SessionSummary])
_jobs = TypeAdapter(list[ProbeJob])


class TraindocClient:
    def __init__(
        self, base_url: str, *, token: str | None = None, timeout: float = 10.0, retries: int = 3
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        if token is not None and not token.strip():  # a blank token would be sent as "Bearer " and refused
            raise InputError("the token is blank: set TRAINDOC_TOKEN to the server's token", field="token")
        headers = {"Authorization": f"Bearer {token.strip()}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=httpx.HTTPTransport(retries=retries),
        )
        self._server: Any = None  # the EmbeddedServer this client started, if any

    @classmethod
    def embedded(
        cls,
        *,
        setups: dict[str, str] | None = None,
        histories: dict[str, str] | None = None,
        db_path: str | None = None,
    ) -> TraindocClient:
        """Start the service in this process on an ephemeral 127.0.0.1 port with a random token.

        db_path defaults to $TRAINDOC_HOME/sessions.db ($TRAINDOC_HOME: ~/.local/share/traindoc).
        """
        from assistant.api.server import EmbeddedServer
        from assistant.api.settings import build_settings, default_db_path, resolve_registrations

        setup_specs, history_paths = resolve_registrations(setups, histories)
        token = secrets.token_urlsafe(32)
        settings = build_settings(
            db_path=Path(db_path) if db_path else default_db_path(),
            token=token,
            setups=setup_specs,
            histories=history_paths,
            executors=["*"],  # one user's own server: their probes may use any executor they name
        )
        server = EmbeddedServer(settings)
        url = server.start()
        client = cls(url, token=token)
        client._server = server
        return client

    def close(self) -> None:
        self._http.close()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> TraindocClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalog ------------------------------------------------------------------------------------

    def health(self) -> dict:
        return self._request("GET", "/health").json()

    def list_setups(self) -> list[SetupPublic]:
        return _setups.validate_json(self._request("GET", "/setups").content)

    def list_histories(self) -> list[HistoryPublic]:
        return _histories.validate_json(self._request("GET", "/histories").content)

    # -- sessions -----------------------------------------------------------------------------------

    def create_session(self, *, setup: str | None = None, history: str | None = None) -> SessionPublic:
        body = {k: v for k, v in (("setup", setup), ("history", history)) if v is not None}
        return self._session("POST", "/sessions", json=body)

    def list_sessions(self, limit: int = 100) -> list[SessionSummary]:
        return _summaries.validate_json(self._request("GET", "/sessions", params={"limit": limit}).content)

    def get_session(self, session_id: str) -> SessionPublic:
        return self._session("GET", f"/sessions/{_seg(session_id)}")

    def delete_session(self, session_id: str) -> None:
        self._request("DELETE", f"/sessions/{_seg(session_id)}")

    def answer(self, session_id: str, question: str, value: str, note: str | None = None) -> SessionPublic:
        body: dict[str, Any] = {"question": question, "value": value}
        if note is not None:
            body["note"] = note
        return self._session("POST", f"/sessions/{_seg(session_id)}/answers", json=body)

    def change(self, session_id: str, question: str, value: str, note: str | None = None) -> SessionPublic:
        body: dict[str, Any] = {"value": value}
        if note is not None:
            body["note"] = note
        return self._session("PUT", f"/sessions/{_seg(session_id)}/answers/{_seg(question)}", json=body)

    def withdraw(self, session_id: str, question: str) -> SessionPublic:
        return self._session("DELETE", f"/sessions/{_seg(session_id)}/answers/{_seg(question)}")

    def undo(self, session_id: str) -> SessionPublic:
        return self._session("POST", f"/sessions/{_seg(session_id)}/undo")

    def report(self, session_id: str) -> Report:
        return Report.model_validate_json(
            self._request("GET", f"/sessions/{_seg(session_id)}/report").content
        )

    def get_curves(self, session_id: str) -> SessionCurves:
        """The curves watched live that the service keeps with the session (GET /sessions/{id}/curves)."""
        return SessionCurves.model_validate_json(
            self._request("GET", f"/sessions/{_seg(session_id)}/curves").content
        )

    def put_curves(self, session_id: str, curves: SessionCurves) -> SessionCurves:
        """Replace them (PUT /sessions/{id}/curves)."""
        response = self._request(
            "PUT", f"/sessions/{_seg(session_id)}/curves", json=curves.model_dump(mode="json")
        )
        return SessionCurves.model_validate_json(response.content)

    def apply_history(
        self, session_id: str, history: str, *, classes: int | None = None, baseline: float | None = None
    ) -> SessionPublic:
        """`classes` / `baseline`: facts the file may not show, which settle the training-loss question."""
        body: dict[str, Any] = {"history": history}
        body |= {k: v for k, v in (("classes", classes), ("baseline", baseline)) if v is not None}
        # reading a history can take a while (an MLflow server, a large file): no short timeout
        return self._session("POST", f"/sessions/{_seg(session_id)}/history", json=body, timeout=None)

    def apply_outcome(
        self, session_id: str, outcome: ProbeOutcome, *, source: str = "probe", notes: list[str] | None = None
    ) -> SessionPublic:
        """Record an outcome measured here (a watched run) on the server's session."""
        body = {"outcome": outcome.model_dump(mode="json"), "source": source, "notes": notes or []}
        return self._session("POST", f"/sessions/{_seg(session_id)}/outcomes", json=body)

    def append_points(
        self,
        session_id: str,
        points: list[tuple[str, float, float | None]],
        alerts: list[str] | None = None,
    ) -> int:
        """Store a watched run's curve points (name, step, value; None for NaN/inf) on the session;
        returns how many it holds."""
        body = {
            "points": [{"name": n, "step": s, "value": v} for n, s, v in points],
            "alerts": alerts or [],
        }
        response = self._request("POST", f"/sessions/{_seg(session_id)}/points", json=body)
        return PointsPage.model_validate_json(response.content).total

    def points(self, session_id: str, *, after: int = 0, limit: int = 10_000) -> PointsPage:
        """The session's curve points from position `after` on (poll with `after=page.next`)."""
        params = {"after": after, "limit": limit}
        response = self._request("GET", f"/sessions/{_seg(session_id)}/points", params=params)
        return PointsPage.model_validate_json(response.content)

    # -- probe jobs ---------------------------------------------------------------------------------

    def start_job(
        self, session_id: str, probe: str, *, setup: str | None = None, options: dict | None = None
    ) -> ProbeJob:
        body: dict[str, Any] = {"probe": probe, "options": options or {}}
        if setup is not None:
            body["setup"] = setup
        return ProbeJob.model_validate_json(
            self._request("POST", f"/sessions/{_seg(session_id)}/jobs", json=body).content
        )

    def follow_job(self, job_id: str) -> Iterator[ProbeJobEvent]:
        """Progress events as the job's probe runs, then one `done` event carrying the finished job."""
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT_S))
        url = f"/jobs/{_seg(job_id)}/events"
        try:
            with self._http.stream("GET", url, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield from _parse_events(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None

    def cancel_job(self, job_id: str) -> ProbeJob:
        # the server answers once the probe has stopped (it kills one that ignores the request)
        return ProbeJob.model_validate_json(
            self._request("POST", f"/jobs/{_seg(job_id)}/cancel", timeout=max(self.timeout, 30.0)).content
        )

    def get_job(self, job_id: str) -> ProbeJob:
        return ProbeJob.model_validate_json(self._request("GET", f"/jobs/{_seg(job_id)}").content)

    def list_jobs(self, session_id: str) -> list[ProbeJob]:
        return _jobs.validate_json(self._request("GET", f"/sessions/{_seg(session_id)}/jobs").content)

    # the names before the client said "job" like the API does (its paths, ProbeJob): kept for scripts
    start_probe = start_job
    follow_probe = follow_job
    cancel_probe = cancel_job
    get_probe = get_job
    list_probes = list_jobs

    # -- plumbing -----------------------------------------------------------------------------------

    def _session(self, method: str, path: str, **kwargs: Any) -> SessionPublic:
        return SessionPublic.model_validate_json(self._request(method, path, **kwargs).content)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _unavailable(self, exc: httpx.TransportError) -> ServiceUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            why = "timed out"
        elif isinstance(exc, httpx.ConnectError):
            why = "connection refused; is `traindoc serve` running?"
        else:
            why = f"connection failed ({type(exc).__name__})"
        return ServiceUnavailable(f"cannot reach the traindoc service at {self.base_url}: {why}")


def _seg(value: str) -> str:
    """A path segment, escaped: an id must never change which route a request takes."""
    from urllib.parse import quote

    return quote(value, safe="")


def _error(response: httpx.Response) -> TraindocError:
    """The exception the server raised, rebuilt from the body's `code` (by its status when a body has
    none: a proxy's own page, an older server); never decided by the message's words."""
    message, field, code = _message(response)
    status = response.status_code
    cls = error_class(code, status)
    if cls is TraindocError and code != TraindocError.code:  # a bug of the server's, a proxy's page
        message = f"the traindoc service failed ({status}): {message}"
    return cls.from_wire(message, field)


def _message(response: httpx.Response) -> tuple[str, str | None, str | None]:
    try:
        error = response.json()["error"]
        code = error.get("code")
        return (
            " ".join(str(error["message"]).split()),
            error.get("field"),
            code if isinstance(code, str) else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = " ".join(response.text.split())[:200]
        return (text or response.reason_phrase or f"HTTP {response.status_code}"), None, None


def _parse_events(lines: Iterator[str]) -> Iterator[ProbeJobEvent]:
    """Server-sent events: `data:` lines up to a blank line make one event; `:` lines are keep-alives."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line == "" and data:
            event = ProbeJobEvent.model_validate(json.loads("\n".join(data)))
            data = []
            yield event
            if event.kind == "done":
                return
    raise ServiceUnavailable("the event stream ended before the probe job finished (server stopped?)")


def default_token() -> str | None:
    return os.environ.get("TRAINDOC_TOKEN") or None
