"""The traindoc HTTP API (FastAPI): `create_app(settings)`; `serve(settings)` runs it under uvicorn.

Names are imported lazily: `assistant.api.settings` is read by the CLI's parser, which must not pay
for importing FastAPI and uvicorn on every `traindoc` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers and editors (`__getattr__` would make them Any)
    from assistant.api.app import create_app
    from assistant.api.server import EmbeddedServer, serve
    from assistant.api.settings import Settings

_EXPORTS = {
    "create_app": "assistant.api.app",
    "EmbeddedServer": "assistant.api.server",
    "serve": "assistant.api.server",
    "Settings": "assistant.api.settings",
}

__all__ = ["EmbeddedServer", "Settings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'assistant.api' has no attribute {name!r}")
