"""The answer path's requests skip FastAPI's middleware stack only while nobody traces requests.

What is checked is where requests went, not time: Starlette builds an app's middleware stack on the
first request that goes through it (`app.middleware_stack`), so after answer-path requests alone it is
still unbuilt when the fast lane took them, and built when they went the usual way. With an
OpenTelemetry tracer provider configured (opentelemetry-api's own no-op provider: a real, non-deferred
provider, which is what turns FastAPI's telemetry on), the lane must be off so that no span is lost;
that runs in a child process because a tracer provider can be set only once per process. That the
responses are the ones FastAPI's routes give is tests/service/test_hot_path.py (which runs through
the lane) and tests/service/test_report_bytes.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx
    from assistant.api.app import create_app
    from assistant.api.settings import Settings

    if sys.argv[2] == "traced":
        from opentelemetry import trace
        trace.set_tracer_provider(trace.NoOpTracerProvider())

    async def main():
        app = create_app(Settings(db_path=sys.argv[1], token="fast-lane-token-0123456789"))
        async with app.router.lifespan_context(app):
            lane = app.fast_lane is not None
            headers = {"authorization": "Bearer fast-lane-token-0123456789", "host": "127.0.0.1"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as c:
                sid = (await c.post("/sessions", json={})).json()["id"]
                r = await c.post(f"/sessions/{sid}/answers", json={"question": "train_loss_large", "value": "yes"})
                report = await c.get(f"/sessions/{sid}/report")
                refused = await c.get(f"/sessions/{sid}/report", headers={"authorization": "Bearer wrong"})
                stack_after_answers = app.middleware_stack is not None
                other = await c.get(f"/sessions/{sid}")
        print(json.dumps({
            "lane": lane,
            "stack_after_answers": stack_after_answers,
            "statuses": [r.status_code, report.status_code, refused.status_code, other.status_code],
            "report_is_the_sessions": report.json() == other.json()["report"],
            "stack_after_other": app.middleware_stack is not None,
        }))

    asyncio.run(main())
    """
)


def run(tmp_path: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / f"{mode}.db"), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_untraced_answer_requests_skip_the_stack_and_the_door_still_holds(tmp_path: Path) -> None:
    got = run(tmp_path, "untraced")
    assert got["lane"] is True
    assert got["stack_after_answers"] is False  # create, answer, report and a refusal: none built it
    assert got["statuses"] == [200, 200, 401, 200]  # the wrong token refused on the lane too
    assert got["report_is_the_sessions"] is True
    assert got["stack_after_other"] is True  # GET /sessions/{id} is not the lane's: the usual way


def test_traced_requests_all_go_through_the_stack(tmp_path: Path) -> None:
    got = run(tmp_path, "traced")
    assert got["lane"] is False
    assert got["stack_after_answers"] is True
    assert got["statuses"] == [200, 200, 401, 200]
    assert got["report_is_the_sessions"] is True


def test_the_lane_is_dropped_when_the_app_stops(tmp_path: Path) -> None:
    from assistant.api.app import create_app
    from assistant.api.settings import Settings

    async def main() -> tuple[bool, bool]:
        app = create_app(Settings(db_path=tmp_path / "s.db", token="fast-lane-token-0123456789"))
        async with app.router.lifespan_context(app):
            during = app.fast_lane is not None
        return during, app.fast_lane is None

    assert asyncio.run(main()) == (True, True)
