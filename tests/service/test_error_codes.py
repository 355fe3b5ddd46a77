"""One error root with stable codes: class -> code -> HTTP status -> client class -> CLI exit code.

The table below is the contract written out by hand (docs/service.md, "Errors", says the same): it is
not read from traindoc/errors.py, so a class whose code, status or exit code changes fails here. Every
class is raised for real inside a real uvicorn server on 127.0.0.1 and read back by the real client;
the CLI's exit code is what `guarded` (the wrapper of every command) returns for the client's exception.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

import traindoc
from assistant import errors as assistant_errors
from assistant import store as assistant_store
from assistant.api import histories as api_histories
from assistant.api.app import create_app
from assistant.api.settings import Settings
from assistant.cli.common import guarded
from assistant.client import TraindocClient
from probes import base as probe_base
from probes.history import _builder
from tests.conftest import REPO
from traindoc import errors
from traindoc.errors import CODES, HTTP_ERROR, INTERNAL_ERROR, TraindocError

TOKEN = "error-codes-token-0123456789"


@dataclass(frozen=True)
class Row:
    cls: type[TraindocError]
    code: str
    status: int  # what the API answers
    wire_code: str  # the code in the body: a class whose text may hold paths is an internal error there
    client: type[TraindocError]  # what the client raises
    exit_code: int  # what the CLI exits with
    retry: bool = False  # a Retry-After header: retrying can succeed


TABLE = [
    Row(errors.TraindocError, "traindoc_error", 400, "traindoc_error", errors.TraindocError, 2),
    Row(errors.InputError, "input_error", 422, "input_error", errors.InputError, 2),
    Row(errors.OffPathAnswer, "off_path_answer", 422, "off_path_answer", errors.OffPathAnswer, 2),
    Row(errors.HistoryTooLarge, "history_too_large", 413, "history_too_large", errors.HistoryTooLarge, 2),
    Row(errors.NotFoundError, "not_found", 404, "not_found", errors.NotFoundError, 2),
    Row(errors.ConflictError, "conflict", 409, "conflict", errors.ConflictError, 2),
    Row(errors.AuthError, "auth_required", 401, "auth_required", errors.AuthError, 2),
    Row(errors.Forbidden, "forbidden", 403, "forbidden", errors.Forbidden, 2),
    Row(errors.EngineError, "engine_failed", 500, "engine_failed", errors.EngineError, 2),
    Row(
        errors.ServiceUnavailable,
        "service_unavailable",
        503,
        "service_unavailable",
        errors.ServiceUnavailable,
        2,
        True,
    ),
    Row(errors.JobQueueFull, "queue_full", 429, "queue_full", errors.JobQueueFull, 2, True),
    Row(errors.StoreError, "storage_error", 500, INTERNAL_ERROR, errors.TraindocError, 2),
    Row(
        errors.StorageUnavailable,
        "storage_unavailable",
        503,
        "storage_unavailable",
        errors.StorageUnavailable,
        2,
        True,
    ),
    Row(errors.StorageFull, "storage_full", 507, "storage_full", errors.StorageFull, 2, True),
    Row(errors.DamagedRecord, "damaged_record", 409, "damaged_record", errors.DamagedRecord, 2),
    Row(errors.ProbeError, "probe_failed", 422, "probe_failed", errors.ProbeError, 2),
    Row(errors.TrainingDiverged, "training_diverged", 422, "training_diverged", errors.TrainingDiverged, 2),
    Row(errors.ProbeCancelled, "probe_cancelled", 422, "probe_cancelled", errors.ProbeCancelled, 2),
    Row(errors.ProbeOutOfMemory, "out_of_memory", 507, "out_of_memory", errors.ProbeOutOfMemory, 3),
    Row(errors.SetupMismatch, "setup_mismatch", 422, "setup_mismatch", errors.SetupMismatch, 2),
    Row(errors.JobTimedOut, "job_timed_out", 422, "job_timed_out", errors.JobTimedOut, 2),
    Row(errors.TooManyPoints, "too_many_points", 422, "too_many_points", errors.TooManyPoints, 2),
    Row(errors.ShadowedPackageError, "shadowed_package", 500, INTERNAL_ERROR, errors.TraindocError, 2),
]
BY_CODE = {row.code: row for row in TABLE}


def make(cls: type[TraindocError], code: str) -> TraindocError:
    """An instance as the code that raises it makes one (some constructors take other arguments)."""
    if cls is errors.ProbeCancelled:
        return errors.ProbeCancelled("depth")  # message: "depth probe cancelled"
    if cls is errors.ProbeOutOfMemory:
        return errors.ProbeOutOfMemory(f"{code}: lower batch_size to 64")
    if cls is errors.ShadowedPackageError:
        return errors.ShadowedPackageError(f"{code}: /srv/secret/rules.py shadows traindoc's rules", "rules")
    return cls(f"{code}: one line for the user", field=f"field_{code}")


def test_the_table_covers_every_code_and_every_class_says_what_the_table_says() -> None:
    assert sorted(BY_CODE) == sorted(CODES), "a code without a row, or a row without a code"
    assert len(BY_CODE) == len(TABLE)
    for row in TABLE:
        assert CODES[row.code] is row.cls
        assert (row.cls.code, row.cls.status_code, row.cls.exit_code) == (row.code, row.status, row.exit_code)
        assert issubclass(row.cls, TraindocError) and issubclass(row.client, TraindocError)
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", row.code), f"{row.code}: codes are snake_case"


def test_every_name_stays_importable_from_where_it_was_and_is_the_one_class() -> None:
    """Contracts: the names users catch keep working from their old homes, as the same objects."""
    old_homes = [
        (assistant_errors, ["TraindocError", "InputError", "NotFoundError", "EngineError", "AuthError"]),
        (assistant_errors, ["ServiceUnavailable", "ConflictError"]),
        (assistant_store, ["StoreError", "StorageUnavailable", "StorageFull", "DamagedRecord"]),
        (probe_base, ["ProbeError", "TrainingDiverged", "ProbeCancelled", "ProbeOutOfMemory"]),
        (_builder, ["TooManyPoints"]),
        (api_histories, ["HistoryTooLarge"]),
        (traindoc, ["TraindocError", "InputError", "ProbeError", "ShadowedPackageError"]),
    ]
    from assistant import jobs

    old_homes.append((jobs, ["JobQueueFull"]))
    for module, names in old_homes:
        for name in names:
            assert getattr(module, name) is getattr(errors, name), f"{module.__name__}.{name}"
    # ProbeError is under the one root now; ShadowedPackageError is still an ImportError (raised on import)
    assert issubclass(traindoc.ProbeError, traindoc.TraindocError)
    assert issubclass(traindoc.ShadowedPackageError, ImportError)


# -- through a real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app (create_app: the Guard, the hot path, the handlers) with one extra route that
    raises the class a code names, served by uvicorn on 127.0.0.1."""
    db = tmp_path_factory.mktemp("errors") / "sessions.db"
    app = create_app(Settings(db_path=db, token=TOKEN))

    async def raise_it(code: str) -> None:
        raise make(CODES[code], code)

    app.add_api_route("/test-raise/{code}", raise_it, methods=["POST"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the server did not start")
    yield base
    server.should_exit = True
    thread.join(15)
    sock.close()


@pytest.mark.parametrize("row", TABLE, ids=[row.code for row in TABLE])
def test_raised_in_the_server_it_is_the_same_class_in_the_client_and_its_exit_code(
    url: str, row: Row
) -> None:
    raised = make(row.cls, row.code)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        response = http.post(f"/test-raise/{row.code}")
    assert response.status_code == row.status
    body = response.json()["error"]
    assert body["code"] == row.wire_code
    assert ("Retry-After" in response.headers) is row.retry
    if row.wire_code == INTERNAL_ERROR:  # its text may name paths: never sent
        assert "/srv/secret" not in response.text and row.code not in body["message"]
        assert body["message"].startswith("internal error (reference ")
    else:
        assert (body["message"], body["field"]) == (raised.message, raised.field)

    with TraindocClient(url, token=TOKEN) as client, pytest.raises(TraindocError) as caught:
        client._request("POST", f"/test-raise/{row.code}")  # the path every client method takes
    assert type(caught.value) is row.client
    if row.wire_code != INTERNAL_ERROR:
        assert (caught.value.message, caught.value.field) == (raised.message, raised.field)

    def command() -> int:
        raise caught.value

    assert guarded(command) == row.exit_code


def test_responses_made_without_an_exception_carry_the_code_of_their_status(url: str) -> None:
    """The Guard's refusals, routing and validation: the same shape, a code, the matching client class."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        # (method, path, headers, body, status, code, client class)
        ("GET", "/sessions", {}, None, 401, "auth_required", errors.AuthError),
        (
            "GET",
            "/sessions",
            {**auth, "Origin": "https://evil.example"},
            None,
            403,
            "forbidden",
            errors.Forbidden,
        ),
        ("GET", "/sessions/nope", auth, None, 404, "not_found", errors.NotFoundError),
        ("GET", "/no-such-route", auth, None, 404, "not_found", errors.NotFoundError),
        ("DELETE", "/health", auth, None, 405, HTTP_ERROR, errors.TraindocError),
        (
            "POST",
            "/sessions",
            {**auth, "Content-Type": "text/plain"},
            b"x",
            415,
            "input_error",
            errors.InputError,
        ),
        (
            "POST",
            "/sessions",
            {**auth, "Content-Type": "application/json"},
            b"{",
            422,
            "input_error",
            errors.InputError,
        ),
    ]
    for method, path, headers, content, status, code, client_class in cases:
        response = httpx.request(method, f"{url}{path}", headers=headers, content=content)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["code"] == code, (path, response.text)
        token = TOKEN if "Authorization" in headers else None
        with TraindocClient(url, token=token) as client, pytest.raises(TraindocError) as caught:
            client._request(method, path, headers=headers, content=content)
        assert type(caught.value) is client_class, (path, caught.value)


def test_an_answer_off_the_path_is_refused_with_its_own_code_and_class(url: str) -> None:
    """What `diagnose --server` decides by (it used to look for words in the message). In the
    flowchart (rules/flowchart.py) the gradient norm is asked only once the training loss is large and
    the depth comparison pointed to optimization or could not decide: on a new session, off the path."""
    with TraindocClient(url, token=TOKEN) as client:
        session = client.create_session()
        with pytest.raises(errors.OffPathAnswer) as caught:
            client.answer(session.id, "gradient_norm_small", "yes")
        assert caught.value.field == "gradient_norm_small"
        with pytest.raises(errors.InputError) as bad:  # a bad value is an input error, not off the path
            client.answer(session.id, "train_loss_large", "maybe")
        assert type(bad.value) is errors.InputError


def test_the_openapi_error_body_documents_the_code(url: str) -> None:
    schema = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert "code" in detail["required"]
    for code in [*CODES, INTERNAL_ERROR, HTTP_ERROR]:
        assert f"`{code}`" in detail["properties"]["code"]["description"]


def test_a_server_without_codes_is_still_understood_by_status() -> None:
    """A body without `code` (an older server, a proxy's page): the class its status stood for."""
    for status, cls in [(404, errors.NotFoundError), (422, errors.InputError), (403, errors.Forbidden)]:
        assert errors.error_class(None, status) is cls
        assert errors.error_class("a_code_from_a_newer_server", status) is cls
    assert errors.error_class(None, 502) is errors.ServiceUnavailable
    assert errors.error_class(None, 500) is TraindocError


def test_every_code_is_documented() -> None:
    text = (REPO / "docs" / "service.md").read_text()
    section = text[text.index("### Error codes") :]
    for code in [*CODES, INTERNAL_ERROR, HTTP_ERROR]:
        assert re.search(rf"^\| `{code}` \|", section, re.MULTILINE), f"{code} is not in docs/service.md"


# -- nobody branches on message text ------------------------------------------------------------------

LIBRARY = ("assistant", "probes", "rules", "tui", "traindoc")
# a message's words, compared: `"x" in exc.message`, `job.error.startswith(...)`, `"x" in str(exc)`
BRANCHING = re.compile(
    r"""\bin\s+(?:str\(\s*)?[\w.]*\b(?:exc|err|error|e)\b(?:\.(?:message|error))?\s*\)?(?:\.lower\(\))?\s*[:)]"""
    r"""|\bin\s+[\w.]+\.(?:message|error)\b"""
    r"""|\.(?:message|error)\.(?:lower|casefold|startswith|endswith)\("""
    r"""|type\(\s*\w+\s*\)\.__name__\s*=="""
)
# text of ANOTHER library's exception, turned into ours where it enters (the only way sqlite says that
# a file is not a database): the one allowed line
FOREIGN = {("assistant/store.py", '"not a database" in str(exc)')}


def test_no_library_code_branches_on_an_error_message() -> None:
    found = []
    for package in LIBRARY:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if BRANCHING.search(code) and not any(rel == f and s in code for f, s in FOREIGN):
                    found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "decide by class or code, not by the words of a message:\n" + "\n".join(found)


def test_the_pattern_finds_what_it_is_meant_to_find() -> None:
    """The grep above would pass on any code if its pattern matched nothing: these lines (what the
    remote CLI and the TUI used to do) must be caught, and ordinary lines must not."""
    caught = [
        'if "not asked on the current path" not in exc.message:',
        'if "timed out" in job.error:',
        'if "malformed" in str(exc):',
        "if err.message.lower().startswith('x'):",
        'if type(exc).__name__ == "ProbeCancelled":',
    ]
    passed = ["for line in lines:", "except InputError as exc:", "message = exc.message", "if code in CODES:"]
    assert all(BRANCHING.search(line) for line in caught)
    assert not any(BRANCHING.search(line) for line in passed)
