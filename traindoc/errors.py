"""Every error traindoc reports to a person, in one tree under one root, each with a stable `code`.

`code` is the machine-readable name of what went wrong: the API's error body carries it
(`{"error": {"message", "field", "code"}}`), the client turns it back into the same class, and the CLI's
exit code and the TUI's advice are decided by the class, never by the message text (which is written
for people and may change). Codes are a contract: add new ones, never rename one.

This module imports nothing, so every layer can import it: probes/ (which must not import assistant/),
the service, the client and the lightweight command line. The classes are also importable from where
they were first defined (`assistant.errors`, `assistant.store`, `probes.base`, ...).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_USAGE = 2  # the user can fix it: the message says how
EXIT_OUT_OF_MEMORY = 3  # not a usage error: the measurement needs a smaller batch (the message says)

# the class of each code; filled as the classes below are defined (see __init_subclass__)
CODES: dict[str, type[TraindocError]] = {}

# codes that name no class: responses the service makes without an exception of ours
INTERNAL_ERROR = "internal_error"  # a bug of the server's: logged there under a reference
HTTP_ERROR = "http_error"  # any other refusal by HTTP status (e.g. 405 method not allowed)


class TraindocError(Exception):
    """Root of every error traindoc reports to a person: one line (`message`), the input it is about
    (`field`, or None), a stable `code`, the API's `status_code` and the CLI's `exit_code`."""

    code: ClassVar[str] = "traindoc_error"
    status_code: ClassVar[int] = 400
    exit_code: ClassVar[int] = EXIT_USAGE

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:  # a subclass without its own code (a user's, a test's) is reported as its base
            return
        if code in CODES and CODES[code] is not cls:
            raise TypeError(f"error code {code!r} of {cls.__name__} is already {CODES[code].__name__}'s")
        CODES[code] = cls

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_wire(cls, message: str, field: str | None = None) -> TraindocError:
        """The error as the client rebuilds it from an API error body (some classes' constructors
        take other arguments: the message is already made)."""
        exc = cls.__new__(cls)
        TraindocError.__init__(exc, message, field=field)
        return exc


CODES[TraindocError.code] = TraindocError


# -- input and requests -------------------------------------------------------------------------------


class InputError(TraindocError):
    """The user's input is invalid: unknown id, bad value, malformed file, off-path answer."""

    code = "input_error"
    status_code = 422


class OffPathAnswer(InputError):
    """An answer to a question the flowchart does not ask on the current path (yet)."""

    code = "off_path_answer"


class HistoryTooLarge(InputError):
    """A training history larger than the service reads (HTTP 413)."""

    code = "history_too_large"
    status_code = 413


class NotFoundError(TraindocError):
    """No session, job, setup or history of that id or name."""

    code = "not_found"
    status_code = 404


class ConflictError(TraindocError):
    """The request conflicts with the current state (e.g. a probe job already finished)."""

    code = "conflict"
    status_code = 409


class AuthError(TraindocError):
    """Missing or wrong token (401)."""

    code = "auth_required"
    status_code = 401


class Forbidden(AuthError):
    """A refused request whatever the token: a cross-site request, an unregistered setup (403)."""

    code = "forbidden"
    status_code = 403


# -- the service and its parts ------------------------------------------------------------------------


class EngineError(TraindocError):
    """The rule engine failed (durable-rules swallows exceptions; we surface them here)."""

    code = "engine_failed"
    status_code = 500


class ServiceUnavailable(TraindocError):
    """The service cannot be reached (connection refused, timeout) or cannot serve now; retry later."""

    code = "service_unavailable"
    status_code = 503


class JobQueueFull(ServiceUnavailable):
    """Too many probe jobs are waiting; the client should retry later (HTTP 429)."""

    code = "queue_full"
    status_code = 429


class StoreError(TraindocError):
    """The database cannot be opened or is from a newer traindoc."""

    code = "storage_error"
    status_code = 500


class StorageUnavailable(StoreError):
    """A write could not be made durable (I/O error, locked database). Nothing was acknowledged; the
    client may retry. The message never names a path: it goes to API clients."""

    code = "storage_unavailable"
    status_code = 503


class StorageFull(StorageUnavailable):
    """The disk (or the database's size limit) is full: HTTP 507 Insufficient Storage."""

    code = "storage_full"
    status_code = 507


class DamagedRecord(StoreError):
    """One stored row cannot be read back: that session alone is affected (HTTP 409, not a 500)."""

    code = "damaged_record"
    status_code = 409


# -- probes -------------------------------------------------------------------------------------------


class ProbeError(TraindocError):
    """A probe cannot run on this input (bad setup, NaN loss, shapes). One line, for the user."""

    code = "probe_failed"
    status_code = 422


class TrainingDiverged(ProbeError):
    """The training loss turned NaN or infinite: a measurement (the recipe is unstable), not a bug."""

    code = "training_diverged"


class ProbeCancelled(ProbeError):
    """The user stopped the probe (should_stop() turned true)."""

    code = "probe_cancelled"

    def __init__(self, probe: str) -> None:
        super().__init__(f"{probe} probe cancelled")


class ProbeOutOfMemory(ProbeError):
    """The measurement did not fit in memory: not a usage error, a size to lower (the message says
    which option and to what). The service's limit, not a malformed request: HTTP 507, exit 3."""

    code = "out_of_memory"
    status_code = 507
    exit_code = EXIT_OUT_OF_MEMORY

    def __init__(self, message: str) -> None:
        super().__init__(message, field="batch_size")


class SetupMismatch(ProbeError):
    """The model, the data and the loss do not fit together (shapes, types, a loss that is no scalar)."""

    code = "setup_mismatch"


class JobTimedOut(ProbeError):
    """A probe job ran past the service's time limit and was stopped (a job's `error_code` only)."""

    code = "job_timed_out"


class TooManyPoints(ProbeError):
    """More points than a history can hold in bounded memory (the reader adds the path)."""

    code = "too_many_points"


# -- installation -------------------------------------------------------------------------------------


class ShadowedPackageError(TraindocError, ImportError):
    """One of traindoc's packages would be imported from another file (traindoc/_packages.py).

    Also an ImportError: it is raised on import. `message` is the one line, `name` the package."""

    code = "shadowed_package"
    status_code = 500

    def __init__(self, message: str, name: str) -> None:
        ImportError.__init__(self, message, name=name)
        self.message = message
        self.field = None

    def __str__(self) -> str:
        return self.message


def error_class(code: str | None, status: int) -> type[TraindocError]:
    """The class an API error body stands for: by its `code`; by the HTTP status for a body without
    one (a server older than codes, a proxy's own page)."""
    if code is not None and code in CODES:
        return CODES[code]
    return _BY_STATUS.get(status, TraindocError)


def code_for_status(status: int) -> str:
    """The code of a response the service makes without an exception of ours (validation, routing,
    the request guard): the code of the class a client makes of that status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls.code
    return INTERNAL_ERROR if status >= 500 else HTTP_ERROR


_BY_STATUS: dict[int, type[TraindocError]] = {
    400: InputError,
    401: AuthError,
    403: Forbidden,
    404: NotFoundError,
    409: ConflictError,
    413: InputError,
    415: InputError,
    422: InputError,
    429: ServiceUnavailable,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}

__all__ = [
    "CODES",
    "EXIT_OUT_OF_MEMORY",
    "EXIT_USAGE",
    "HTTP_ERROR",
    "INTERNAL_ERROR",
    "AuthError",
    "ConflictError",
    "DamagedRecord",
    "EngineError",
    "Forbidden",
    "HistoryTooLarge",
    "InputError",
    "JobQueueFull",
    "JobTimedOut",
    "NotFoundError",
    "OffPathAnswer",
    "ProbeCancelled",
    "ProbeError",
    "ProbeOutOfMemory",
    "ServiceUnavailable",
    "SetupMismatch",
    "ShadowedPackageError",
    "StorageFull",
    "StorageUnavailable",
    "StoreError",
    "TooManyPoints",
    "TraindocError",
    "TrainingDiverged",
    "code_for_status",
    "error_class",
]
