"""Every error leaves the API as `{"error": {"message": str, "field": str | None, "code": str}}` with its
status code. `code` is the class's stable code (traindoc/errors.py); the client rebuilds the class from
it. Responses made without an exception of ours get the code of their status (`code_for_status`)."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from traindoc.errors import (
    INTERNAL_ERROR,
    EngineError,
    ProbeOutOfMemory,
    ServiceUnavailable,
    StorageUnavailable,
    TraindocError,
    code_for_status,
)

log = logging.getLogger("traindoc.api")

# the request part a validation error's location starts with; the client cares about the field
_LOCATIONS = ("body", "path", "query", "header", "cookie")


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    code: str | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, field, code), status_code=status, headers=headers)


def error_body(status: int, message: str, field: str | None, code: str | None = None) -> dict:
    """The one error shape (also written by the request guard, security.py, before the app runs)."""
    return {"error": {"message": message, "field": field, "code": code or code_for_status(status)}}


def install(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception (it dispatches by class), hence the ignores;
    # the one root covers the probe errors too
    app.add_exception_handler(TraindocError, _traindoc)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)


# errors whose messages are written for clients (no paths, no engine text); any other 5xx is ours.
# EngineError's message is one fixed sentence; the engine logs its details (traindoc.engine)
_CLIENT_SAFE_5XX = (ServiceUnavailable, StorageUnavailable, EngineError, ProbeOutOfMemory)
# a retry can succeed: the queue drains, the database unlocks, space is freed
_RETRYABLE = (ServiceUnavailable, StorageUnavailable)


async def _traindoc(_: Request, exc: TraindocError) -> JSONResponse:
    headers = {"Retry-After": "5"} if isinstance(exc, _RETRYABLE) else None
    if exc.status_code >= 500:
        if not isinstance(exc, _CLIENT_SAFE_5XX):
            # an engine failure or an unreadable database: its text may hold internals and paths
            return _logged_internal(exc)
        log.warning("%s: %s", type(exc).__name__, exc.message)
    # a probe's out of memory is the server's limit, not a malformed request: 507 (its status_code)
    return error_response(exc.status_code, exc.message, exc.field, headers, code=exc.code)


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return validation_response(exc.errors()[0])


def validation_response(err: dict) -> JSONResponse:
    """The first validation error as the API's 422 (also used by the answer path: hot_path.py)."""
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    field = ".".join(loc) or None
    if err.get("type") == "json_invalid":
        return error_response(422, "request body is not valid JSON", None)
    if err.get("type") == "missing" and not loc:
        return error_response(422, "request body is missing", None)
    return error_response(422, f"{field or 'request'}: {err.get('msg', 'invalid')}", field)


async def _http(_: Request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, message, None, getattr(exc, "headers", None))


async def _internal(_: Request, exc: Exception) -> JSONResponse:
    return _logged_internal(exc)


def _logged_internal(exc: BaseException) -> JSONResponse:
    """A bug of ours: the traceback goes to the server's log under a reference; the client gets one
    stable line with that reference and nothing else (no exception text: it can name paths)."""
    reference = secrets.token_hex(4)
    log.error("internal error %s", reference, exc_info=(type(exc), exc, exc.__traceback__))
    message = f"internal error (reference {reference} in the server's log)"
    return error_response(500, message, None, code=INTERNAL_ERROR)
