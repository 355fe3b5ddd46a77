"""The traindoc HTTP API (FastAPI): `create_app(settings)`; `serve(settings)` runs it under uvicorn."""

from assistant.api.app import create_app
from assistant.api.server import EmbeddedServer, serve
from assistant.api.settings import Settings

__all__ = ["EmbeddedServer", "Settings", "create_app", "serve"]
