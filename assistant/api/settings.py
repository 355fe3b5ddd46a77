"""The service's settings: built from `traindoc serve` flags, a TOML config file, or by the embedded client.

Setups and histories are registered HERE, on the server side, under names; clients only ever send the
names. Paths are resolved (relative to the config file, or the working directory for flags) and checked
when the settings are made, so a typo fails at start-up rather than at the first probe.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.errors import InputError
from assistant.service_models import NAME_PATTERN, HistoryPublic, SetupPublic

DEFAULT_PORT = 8321
_NAME = re.compile(NAME_PATTERN)


def traindoc_home() -> Path:
    return Path(os.environ.get("TRAINDOC_HOME") or Path.home() / ".local" / "share" / "traindoc")


def default_db_path() -> Path:
    return traindoc_home() / "sessions.db"


class Settings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    db_path: Path = Field(default_factory=default_db_path)
    token: str | None = Field(None, repr=False)
    setups: dict[str, str] = Field(default_factory=dict, description="NAME -> resolved setup spec")
    histories: dict[str, str] = Field(default_factory=dict, description="NAME -> resolved history path")
    max_body_bytes: int = Field(256 * 1024, gt=0)
    job_timeout_s: float = Field(1800.0, gt=0, le=7 * 24 * 3600)
    job_workers: int = Field(1, ge=1, le=64)
    job_queue: int = Field(8, ge=0, le=10_000)
    # a probe runs the user's model: 4 GiB of address space beyond what it holds after loading the
    # setup fails it with "ran out of memory" instead of letting it swap the server's machine; 0: no cap
    job_memory_mb: int | None = Field(4096, ge=0, description="extra address space a probe may take")
    synchronous: Literal["full", "normal"] = "full"
    sse_keepalive_s: float = Field(10.0, gt=0)
    session_cache: int = Field(10_000, ge=1)
    max_inputs: int = Field(2_000, ge=1, description="inputs one session may hold")
    access_log: bool = False
    # connection limits (assistant/api/connections.py) and the Host allow-list (assistant/api/security.py)
    head_timeout_s: float = Field(10.0, gt=0, le=3600, description="time for a request's head to arrive")
    body_timeout_s: float = Field(30.0, gt=0, le=3600, description="time for a request's body to arrive")
    max_connections: int = Field(4096, ge=1, le=1_000_000)
    max_connections_per_client: int = Field(256, ge=1, le=1_000_000)
    allowed_hosts: list[str] | None = Field(
        None, description="Host header names answered; default: loopback names and the bound address"
    )
    history_max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="largest history file read")
    history_memory_mb: int = Field(4096, gt=0, description="address space a history reader may take")
    history_cache: int = Field(32, ge=0, le=10_000, description="parsed histories kept (by file version)")
    # where a client may ask a probe's trainings/products to run: a service reached by others must not
    # let any client make it connect to any Ray cluster, so only `local` unless the operator allows
    # more (`traindoc serve --allow-executor ray`); the embedded server of one user's TUI allows "*"
    executors: list[str] = Field(
        default_factory=lambda: ["local"],
        description="executors clients may choose: local, ray, ray://HOST:PORT, or * for any",
    )

    def check(self) -> Settings:
        """Refuse settings that would be unsafe to serve with."""
        if not is_loopback(self.host) and not self.token:
            raise InputError(
                f"binding {self.host} (not loopback) needs a token: pass --token or set TRAINDOC_TOKEN",
                field="token",
            )
        if self.token is not None and (
            len(self.token) < 16 or not self.token.isprintable() or any(c.isspace() for c in self.token)
        ):
            raise InputError(
                "the token must be at least 16 printable characters without spaces", field="token"
            )
        for kind, names in (("setup", self.setups), ("history", self.histories)):
            for name in names:
                check_name(name, kind)
        for executor in self.executors:
            if executor != "*":
                from probes.executor_options import check_executor
                from traindoc.errors import TraindocError

                try:
                    check_executor(executor)
                except TraindocError as exc:
                    raise InputError(f"--allow-executor: {exc}", field="executors") from None
        return self

    def setup_list(self) -> list[SetupPublic]:
        return [
            SetupPublic(name=name, kind=spec_kind(spec), description=_describe(spec))
            for name, spec in sorted(self.setups.items())
        ]

    def history_list(self) -> list[HistoryPublic]:
        return [HistoryPublic(name=name, description=path) for name, path in sorted(self.histories.items())]


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_names(settings: Settings) -> frozenset[str] | None:
    """The Host header names the server answers (lower case, no port); None: any (see docs/service.md).

    A page on evil.example can point its own name at 127.0.0.1 (DNS rebinding) and so reach a loopback
    service with `Host: evil.example`; answering only our own names defeats that. Bound to every
    address (0.0.0.0) the service needs a token, which such a page cannot send, so any name is then
    answered unless the operator lists them.
    """
    if settings.allowed_hosts is not None:
        if "*" in settings.allowed_hosts:
            return None
        return frozenset(normal_host(h) for h in settings.allowed_hosts)
    bound = normal_host(settings.host)
    if bound in ("0.0.0.0", "::", ""):
        return None
    return frozenset({*LOOPBACK_NAMES, bound})


def normal_host(value: str) -> str:
    """`[::1]:8321` -> `::1`, `LocalHost:80` -> `localhost`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_name(name: str, kind: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"{kind} name {name!r} must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit",
            field=kind,
        )
    return name


def spec_kind(spec: str) -> Literal["file", "module", "demo"]:
    if spec.startswith("demo:"):
        return "demo"
    target = spec.rpartition(":")[0]
    return "file" if target.endswith(".py") or "/" in target or "\\" in target else "module"


def _describe(spec: str) -> str:
    if spec.startswith("demo:"):
        return f"built-in demo {spec.removeprefix('demo:')}"
    return spec


def resolve_setup(spec: str, base: Path) -> str:
    """A setup spec with its file made absolute (and checked); module and demo specs as they are."""
    target, sep, func = spec.rpartition(":")
    if spec.startswith("demo:"):
        if not spec.removeprefix("demo:"):
            raise InputError("a demo setup looks like demo:NAME", field="setup")
        return spec
    if not sep or not target or not func:
        raise InputError(
            f"setup must look like FILE.py:FUNC, module:FUNC or demo:NAME (got {spec!r})", field="setup"
        )
    if spec_kind(spec) == "module":
        return spec
    path = (base / target).resolve()
    if not path.is_file():
        raise InputError(f"setup file not found: {target}", field="setup")
    return f"{path}:{func}"


def resolve_history(spec: str, base: Path) -> str:
    if "://" in spec:  # mlflow://HOST:PORT/RUN_ID and the like: checked when read
        return spec
    path = (base / spec).resolve()
    if not path.exists():
        raise InputError(f"history not found: {spec}", field="history")
    return str(path)


def parse_pairs(items: list[str] | None, kind: str) -> dict[str, str]:
    """`NAME=SPEC` flags into a dict; a repeated NAME is an error, not a silent override."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise InputError(f"--{kind} needs NAME=SPEC (got {item!r})", field=kind)
        check_name(name, kind)
        if name in out:
            raise InputError(f"{kind} {name!r} is registered twice", field=kind)
        out[name] = spec
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a traindoc.toml; returns Settings fields (paths resolved relative to the file)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    base = p.resolve().parent
    known = {
        "host",
        "port",
        "db",
        "token_env",
        "setups",
        "histories",
        "jobs",
        "max_body_bytes",
        "synchronous",
        "limits",
        "allowed_hosts",
        "executors",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"config file {path}: unknown key(s) {', '.join(unknown)}", field=unknown[0])
    out: dict[str, Any] = {
        k: data[k] for k in ("host", "port", "max_body_bytes", "synchronous", "executors") if k in data
    }
    if "db" in data:
        out["db_path"] = (base / str(data["db"])).resolve()
    if "token_env" in data:  # a token belongs in the environment, not in a file that gets committed
        out["token"] = os.environ.get(str(data["token_env"])) or None
    for kind, resolve in (("setups", resolve_setup), ("histories", resolve_history)):
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise InputError(f'config file {path}: [{kind}] must be a table of NAME = "SPEC"', field=kind)
        out[kind] = {check_name(str(n), kind[:-1]): resolve(str(s), base) for n, s in table.items()}
    jobs = data.get("jobs", {})
    for key, name in (("timeout_s", "job_timeout_s"), ("workers", "job_workers"), ("queue", "job_queue")):
        if key in jobs:
            out[name] = jobs[key]
    if "memory_mb" in jobs:
        out["job_memory_mb"] = jobs["memory_mb"]
    if "allowed_hosts" in data:
        out["allowed_hosts"] = data["allowed_hosts"]
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise InputError(f"config file {path}: [limits] must be a table", field="limits")
    unknown_limits = sorted(set(limits) - set(LIMIT_KEYS))
    if unknown_limits:
        raise InputError(
            f"config file {path}: unknown key(s) in [limits]: {', '.join(unknown_limits)}",
            field=f"limits.{unknown_limits[0]}",
        )
    out.update(limits)
    return out


# the operator's limits, settable in [limits] of traindoc.toml (and most as `traindoc serve` flags)
LIMIT_KEYS = (
    "head_timeout_s",
    "body_timeout_s",
    "max_connections",
    "max_connections_per_client",
    "history_max_bytes",
    "history_memory_mb",
    "history_cache",
    "max_inputs",
    "session_cache",
)


def build_settings(**fields: Any) -> Settings:
    """Settings from keyword fields, with pydantic's complaints turned into one-line InputErrors."""
    try:
        return Settings(**{k: v for k, v in fields.items() if v is not None}).check()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"setting {where}: {err['msg']}", field=where) from None


def resolve_registrations(
    setups: dict[str, str] | None, histories: dict[str, str] | None, base: Path | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Check names and resolve specs given as flags or by the embedded client (relative to `base`)."""
    root = base or Path.cwd()
    return (
        {check_name(n, "setup"): resolve_setup(s, root) for n, s in (setups or {}).items()},
        {check_name(n, "history"): resolve_history(s, root) for n, s in (histories or {}).items()},
    )
