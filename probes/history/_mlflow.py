"""An MLflow tracking server's metric history, over its REST API (no mlflow package needed).

`mlflow://HOST:PORT/RUN_ID` (http) or `mlflow+https://HOST/PREFIX/RUN_ID`. The run's metric keys come
from GET /api/2.0/mlflow/runs/get; each key's full history from GET
/api/2.0/mlflow/metrics/get-history, paged with max_results / page_token. MLflow writes NaN and
infinity as the strings "NaN" and "Infinity". Credentials are read as the mlflow client reads them:
MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from probes.base import ProbeError
from probes.history._builder import SeriesBuilder, to_float
from probes.history._models import History
from probes.history._names import classify

if TYPE_CHECKING:  # httpx is imported on first use: reading a CSV should not pay for it
    import httpx

SCHEMES = {"mlflow": "http", "mlflow+http": "http", "mlflow+https": "https"}
PAGE_SIZE = 25_000
MAX_POINTS = 5_000_000  # per run; a bound on memory, far above any real history
_RUN_ID = re.compile(r"^[\w-]{1,64}$")


def is_mlflow_spec(spec: str) -> bool:
    return spec.split("://", 1)[0].lower() in SCHEMES and "://" in spec


def parse_spec(spec: str) -> tuple[str, str]:
    parts = urlsplit(spec)
    scheme = SCHEMES.get(parts.scheme.lower())
    path = parts.path.strip("/")
    prefix, _, run_id = path.rpartition("/")
    if scheme is None or not parts.netloc or not _RUN_ID.match(run_id or ""):
        raise ProbeError(f"{spec}: expected mlflow://HOST:PORT/RUN_ID")
    base = f"{scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    return base, run_id


def _client(timeout: float) -> httpx.Client:
    import httpx

    headers = {"Accept": "application/json"}
    auth = None
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    elif (user := os.environ.get("MLFLOW_TRACKING_USERNAME")) and (
        pw := os.environ.get("MLFLOW_TRACKING_PASSWORD")
    ):
        auth = httpx.BasicAuth(user, pw)
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), headers=headers, auth=auth)


def _get(client: httpx.Client, base: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
    import httpx

    url = f"{base}/api/2.0/mlflow/{path}"
    try:
        response = client.get(url, params=params)
    except httpx.TimeoutException:
        raise ProbeError(f"the MLflow server at {base} did not answer in time (timeout)") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise ProbeError(f"cannot reach the MLflow server at {base}: {reason}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in (401, 403):
        raise ProbeError(
            f"the MLflow server at {base} refused access (HTTP {response.status_code}): "
            "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
        )
    if isinstance(body, dict) and body.get("error_code"):
        message = str(body.get("message", "")).splitlines()[0] if body.get("message") else ""
        if body["error_code"] == "RESOURCE_DOES_NOT_EXIST":
            raise ProbeError(f"MLflow run {params.get('run_id')} not found on {base}")
        raise ProbeError(f"the MLflow server at {base} answered {body['error_code']}: {message}")
    if response.status_code != 200 or not isinstance(body, dict):
        raise ProbeError(
            f"{url} answered HTTP {response.status_code}, not MLflow's JSON: is this an MLflow server?"
        )
    return body


def _history_of(
    client: httpx.Client, base: str, run_id: str, key: str, budget: int, page_size: int
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": page_size}
        if token:
            params["page_token"] = token
        body = _get(client, base, "metrics/get-history", params)
        page = body.get("metrics") or []
        points += [m for m in page if isinstance(m, dict)]
        token = body.get("next_page_token")
        if not token or not page or len(points) >= budget:
            return points[:budget]


def read_mlflow(spec: str, timeout: float = 10.0, page_size: int = PAGE_SIZE) -> History:
    base, run_id = parse_spec(spec)
    warnings: list[str] = []
    with _client(timeout) as client:
        run = _get(client, base, "runs/get", {"run_id": run_id}).get("run") or {}
        latest = (run.get("data") or {}).get("metrics") or []
        keys = sorted({m["key"] for m in latest if isinstance(m, dict) and "key" in m and classify(m["key"])})
        if not keys:
            raise ProbeError(f"MLflow run {run_id} on {base} has no logged metrics")
        builder = SeriesBuilder("step")
        budget = MAX_POINTS
        for key in keys:
            points = _history_of(client, base, run_id, key, budget, page_size)
            budget -= len(points)
            points.sort(key=lambda m: (to_float(m.get("step")) or 0.0, to_float(m.get("timestamp")) or 0.0))
            for m in points:
                value = to_float(m.get("value"))
                if value is not None:
                    builder.add(key, to_float(m.get("step")) or 0.0, value)
            if budget <= 0:
                warnings.append(f"stopped reading after {MAX_POINTS} points")
                break
    name = ((run.get("info") or {}).get("run_name")) or run_id
    return History(
        source=f"mlflow run {name} ({run_id}) on {base}",
        format="mlflow",
        series=builder.build(),
        notes=[f"MLflow metrics: {', '.join(keys)}"],
        warnings=warnings,
    )
