"""One rooted exception tree. Every error a user can cause is a TraindocError with a one-line message."""

from __future__ import annotations


class TraindocError(Exception):
    """Base of every error traindoc reports to a person (CLI exit 2, API 4xx)."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InputError(TraindocError):
    """The user's input is invalid: unknown id, bad value, malformed file, off-path answer."""

    status_code = 422


class NotFoundError(TraindocError):
    status_code = 404


class EngineError(TraindocError):
    """The rule engine failed (durable-rules swallows exceptions; we surface them here)."""

    status_code = 500


class AuthError(TraindocError):
    """Missing or wrong token (401), or a forbidden action such as an unregistered setup (403)."""

    status_code = 401


class ServiceUnavailable(TraindocError):
    """The service cannot be reached (connection refused, timeout)."""

    status_code = 503


class ConflictError(TraindocError):
    """The request conflicts with the current state (e.g. a probe job already finished)."""

    status_code = 409
