"""Every error leaves the API as `{"error": {"message": str, "field": str | None}}` with its status code."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from assistant.errors import EngineError, ServiceUnavailable, TraindocError
from assistant.store import StorageUnavailable
from probes.base import ProbeError, ProbeOutOfMemory

log = logging.getLogger("traindoc.api")

# the request part a validation error's location starts with; the client cares about the field
_LOCATIONS = ("body", "path", "query", "header", "cookie")


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "field": field}}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception (it dispatches by class), hence the ignores
    app.add_exception_handler(TraindocError, _traindoc)  # type: ignore[arg-type]
    app.add_exception_handler(ProbeError, _probe)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)


# errors whose messages are written for clients (no paths, no engine text); any other 5xx is ours.
# EngineError's message is one fixed sentence; the engine logs its details (traindoc.engine)
_CLIENT_SAFE_5XX = (ServiceUnavailable, StorageUnavailable, EngineError)


async def _traindoc(_: Request, exc: TraindocError) -> JSONResponse:
    headers = {"Retry-After": "5"} if exc.status_code in (429, 503, 507) else None
    if exc.status_code >= 500:
        if not isinstance(exc, _CLIENT_SAFE_5XX):
            # an engine failure or an unreadable database: its text may hold internals and paths
            return _logged_internal(exc)
        log.warning("%s: %s", type(exc).__name__, exc.message)
    return error_response(exc.status_code, exc.message, exc.field, headers)


async def _probe(_: Request, exc: ProbeError) -> JSONResponse:
    # out of memory is the server's limit, not a malformed request: 507 with the batch that fits
    status = 507 if isinstance(exc, ProbeOutOfMemory) else 422
    return error_response(status, exc.message, exc.field or getattr(exc, "code", None))


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
    return error_response(500, f"internal error (reference {reference} in the server's log)", None)
