"""A small MLflow tracking server for tests: the two REST endpoints traindoc reads, answering as a
real MLflow 3.x server answers (checked against `mlflow server` 3.17 on 127.0.0.1):

- GET /api/2.0/mlflow/runs/get?run_id=X -> {"run": {"info": {...}, "data": {"metrics": [latest of
  each key], "tags": [...]}}}; an unknown run -> HTTP 404 {"error_code": "RESOURCE_DOES_NOT_EXIST"}.
- GET /api/2.0/mlflow/metrics/get-history?run_id=X&metric_key=K&max_results=N&page_token=T ->
  {"metrics": [{"key", "value", "timestamp", "step"}], "next_page_token": base64 '{"offset": n}'};
  an unknown run or key -> HTTP 200 {}; a missing run_id -> HTTP 400 INVALID_PARAMETER_VALUE.
- NaN and infinity are sent as the strings "NaN", "Infinity", "-Infinity".

Served by uvicorn on 127.0.0.1 in a background thread; `requests` records every query string so a
test can see that paging happened.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _value(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


class Store:
    def __init__(self) -> None:
        self.runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.requests: list[dict[str, str]] = []

    def log(self, run_id: str, key: str, values: list[float], steps: list[int] | None = None) -> None:
        metrics = self.runs.setdefault(run_id, {}).setdefault(key, [])
        for i, v in enumerate(values):
            step = steps[i] if steps else i
            metrics.append({"key": key, "value": _value(v), "timestamp": 1_700_000_000_000 + i, "step": step})


def _error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def create_app(store: Store) -> Starlette:
    async def runs_get(request: Request) -> JSONResponse:
        store.requests.append(dict(request.query_params))
        run_id = request.query_params.get("run_id")
        if not run_id:
            return _error("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.", 400)
        if run_id not in store.runs:
            return _error("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found", 404)
        latest = [
            max(points, key=lambda m: (m["step"], m["timestamp"])) for points in store.runs[run_id].values()
        ]
        info = {"run_id": run_id, "run_uuid": run_id, "run_name": f"run-{run_id[:6]}", "status": "FINISHED"}
        return JSONResponse({"run": {"info": info, "data": {"metrics": latest, "tags": []}}})

    async def get_history(request: Request) -> JSONResponse:
        q = dict(request.query_params)
        store.requests.append(q)
        if not q.get("run_id"):
            return _error("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.", 400)
        points = store.runs.get(q["run_id"], {}).get(q.get("metric_key", ""))
        if not points:
            return JSONResponse({})
        size = int(q.get("max_results", 25000))
        offset = json.loads(base64.b64decode(q["page_token"]))["offset"] if q.get("page_token") else 0
        body: dict[str, Any] = {"metrics": points[offset : offset + size]}
        if offset + size < len(points):
            body["next_page_token"] = base64.b64encode(
                json.dumps({"offset": offset + size}).encode()
            ).decode()
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/api/2.0/mlflow/runs/get", runs_get),
            Route("/api/2.0/mlflow/metrics/get-history", get_history),
        ]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(store: Store) -> Iterator[str]:
    """Run the stub on 127.0.0.1; yields 'HOST:PORT'."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
