"""Fuzz the API from its own OpenAPI document (schemathesis): valid and invalid requests to every
operation, against a real server; none may answer 5xx. Bounded: a few dozen examples per operation."""

from __future__ import annotations

import pytest

from tests.service.conftest import ServerProcess

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and mode: ~1,000 requests in all


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_request_makes_the_server_fail(server: ServerProcess, mode: str) -> None:
    from hypothesis import HealthCheck, given, settings

    auth = {"Authorization": f"Bearer {server.token}"}
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=auth)
    failures: list[str] = []
    operations = 0
    calls = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.path.endswith("/events"):
            # an event stream may stay open; its only failure mode worth fuzzing is the 404 for a bad id
            continue
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @given(case=strategy)
        def fuzz(case) -> None:
            response = case.call(base_url=server.url, headers=auth, timeout=30)
            calls[0] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:
            assert mode == "negative"  # nothing to break: an operation with no parameters or body
    assert operations == 23 and calls[0] >= 100, calls  # 19 + GET/PUT curves (issue 15) + POST/GET points (issue 16)
    assert failures == [], "\n".join(failures[:10])
    with server.client() as http:
        assert http.get("/health").status_code == 200
