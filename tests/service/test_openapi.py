"""The OpenAPI document declares what the Guard and the event stream do, so that a client GENERATED
from it works: it sends the bearer token, and it knows what each server-sent event holds.

Ground truth: a real server on loopback (the answers are read back with plain httpx), the events of a
real probe job validated with jsonschema against the schema the document declares, and a client that
openapi-python-client generates from the served document in a temporary folder.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import TOKEN, ServerProcess, new_session

GENERATOR = shutil.which("openapi-python-client") or str(
    Path(sys.executable).parent / "openapi-python-client"
)


def spec_of(server: ServerProcess) -> dict:
    with server.client() as http:
        r = http.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_bearer_scheme_and_security_on_every_operation(server: ServerProcess) -> None:
    spec = spec_of(server)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    operations = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    # 18 + POST /sessions/{id}/outcomes + POST, GET /sessions/{id}/points (watched runs, issue 16)
    # + GET/PUT /sessions/{id}/curves (issue 15)
    assert len(operations) == 23
    for path, method, op in operations:
        if path == "/health":  # open: readiness checks need no secret (assistant/api/security.py)
            assert op["security"] == [], (path, method)
        else:
            assert op["security"] == [{"bearer": []}], (path, method)
            assert "401" in op["responses"], (path, method)
    # what the document says is what the Guard does: no token, 401; /health, 200
    with server.client(token=None) as anonymous:
        assert anonymous.get("/sessions").status_code == 401
        assert anonymous.get("/health").status_code == 200


def test_without_a_token_the_requirement_is_optional(tmp_path: Path) -> None:
    from assistant.api.app import create_app
    from assistant.api.settings import build_settings

    spec = create_app(build_settings(db_path=tmp_path / "s.db")).openapi()
    assert spec["paths"]["/sessions"]["post"]["security"] == [{"bearer": []}, {}]


def test_progress_endpoint_is_an_event_stream_with_its_event_schema(server: ServerProcess) -> None:
    spec = spec_of(server)
    content = spec["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    assert content["text/event-stream"]["itemSchema"] == {"$ref": "#/components/schemas/ProbeJobEvent"}
    event = spec["components"]["schemas"]["ProbeJobEvent"]
    assert event["properties"]["kind"]["enum"] == ["progress", "status", "done"]


@pytest.mark.slow
def test_real_events_match_the_declared_schema(server: ServerProcess) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    spec = spec_of(server)
    root = {"components": spec["components"], "$ref": "#/components/schemas/ProbeJobEvent"}
    validator = jsonschema.Draft202012Validator(root)
    with server.client() as http:
        session = new_session(http, setup="quick")
        job = http.post(f"/sessions/{session}/jobs", json={"probe": "baselines"}).json()
        kinds = []
        with http.stream("GET", f"/jobs/{job['id']}/events", timeout=httpx.Timeout(30, read=120)) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    validator.validate(event)  # raises with the offending field
                    kinds.append(event["kind"])
    assert kinds[-1] == "done" and "progress" in kinds


@pytest.mark.slow
def test_a_generated_client_creates_a_session_and_answers_with_the_token(
    server: ServerProcess, tmp_path: Path
) -> None:
    if not Path(GENERATOR).exists():
        pytest.skip("openapi-python-client is not installed (pip install -e '.[dev]' installs it)")
    spec_file = tmp_path / "openapi.json"
    spec_file.write_text(json.dumps(spec_of(server)))
    package = tmp_path / "generated_traindoc_client"
    proc = subprocess.run(
        [GENERATOR, "generate", "--path", str(spec_file), "--meta", "none", "--output-path", str(package)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sys.path.insert(0, str(tmp_path))
    try:
        client_mod = importlib.import_module("generated_traindoc_client")
        create = importlib.import_module(
            "generated_traindoc_client.api.sessions.create_session_sessions_post"
        )
        answer = importlib.import_module(
            "generated_traindoc_client.api.answers.answer_sessions_session_id_answers_post"
        )
        models = importlib.import_module("generated_traindoc_client.models")

        # both clients are closed here: the generated client owns an httpx.Client
        with client_mod.AuthenticatedClient(base_url=server.url, token=TOKEN) as authed:
            created = create.sync_detailed(client=authed, body=models.SessionCreate())
            assert created.status_code == 201, created.content
            session_id = created.parsed.id
            answered = answer.sync_detailed(
                session_id, client=authed, body=models.AnswerCreate(question="train_loss_large", value="yes")
            )
            assert answered.status_code == 200, answered.content

        # without the token the generated client is refused, as the document says
        with client_mod.Client(base_url=server.url) as anonymous:
            refused = create.sync_detailed(client=anonymous, body=models.SessionCreate())  # type: ignore[arg-type]
            assert refused.status_code == 401
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("generated_traindoc_client")]:
            del sys.modules[name]
    # read back with plain httpx: the answer is the server's state
    with server.client() as http:
        report = http.get(f"/sessions/{session_id}/report").json()
    assert report["answers"]["train_loss_large"]["value"] == "yes"
