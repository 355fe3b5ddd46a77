"""The service's errors, re-exported from their one home, `traindoc.errors` (one root, stable codes).

Every error a user can cause is a TraindocError with a one-line message and a `code`; the names stay
importable from here (a contract: users and scripts catch `assistant.errors.InputError`).
"""

from __future__ import annotations

from traindoc.errors import (
    AuthError,
    ConflictError,
    EngineError,
    Forbidden,
    InputError,
    NotFoundError,
    OffPathAnswer,
    ServiceUnavailable,
    TraindocError,
)

__all__ = [
    "AuthError",
    "ConflictError",
    "EngineError",
    "Forbidden",
    "InputError",
    "NotFoundError",
    "OffPathAnswer",
    "ServiceUnavailable",
    "TraindocError",
]
