"""What the OpenAPI document declares beyond what FastAPI derives from the routes.

- The bearer token: the Guard middleware checks it, so FastAPI cannot see it. Declared as an HTTP bearer
  security scheme and required on every operation except the open ones (`/health`), so clients
  generated from the document send it. Without a configured token the requirement is optional (`{}`).
- The progress endpoint: a `text/event-stream` whose every `data:` line is one ProbeJobEvent (JSON).
  Declared with the event's schema (`itemSchema`, as OpenAPI 3.2 names the schema of each item of a
  sequential media type, plus the stream itself as a string), so its consumers need not read the code.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assistant.api.security import OPEN_PATHS
from assistant.service_models import ProbeJobEvent

SCHEME = "bearer"
EVENTS_PATH = "/jobs/{job_id}/events"
METHODS = ("get", "put", "post", "delete", "patch")


def install(app: FastAPI, *, token_required: bool) -> None:
    """Replace the app's document builder with one that adds the declarations above (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            declare_bearer(schema, token_required=token_required)
            declare_event_stream(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing app.openapi to customise the schema


def declare_bearer(schema: dict[str, Any], *, token_required: bool) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "the server's token (`traindoc serve --token`, or TRAINDOC_TOKEN): "
        "required when the server binds anything but loopback",
    }
    requirement: list[dict[str, list[str]]] = [{SCHEME: []}] if token_required else [{SCHEME: []}, {}]
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                item[method]["security"] = [] if path in OPEN_PATHS else requirement
                if path not in OPEN_PATHS:
                    item[method].setdefault("responses", {}).setdefault(
                        "401", _error_response(schema, "missing or wrong bearer token")
                    )


def declare_event_stream(schema: dict[str, Any]) -> None:
    operation = schema.get("paths", {}).get(EVENTS_PATH, {}).get("get")
    if operation is None:
        return
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    event = ProbeJobEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in event.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ProbeJobEvent", event)
    ref = {"$ref": "#/components/schemas/ProbeJobEvent"}
    operation["responses"]["200"] = {
        "description": "server-sent events: each `data:` line is one ProbeJobEvent as JSON (`kind`: "
        "progress, status, done); a `: keep-alive` comment every few seconds; the stream ends after `done`",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "string",
                    "description": "text/event-stream; data lines hold ProbeJobEvent",
                },
                "itemSchema": ref,
                "x-event-schema": ref,
            }
        },
    }


def _error_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    has_error_body = "ErrorBody" in schema.get("components", {}).get("schemas", {})
    response: dict[str, Any] = {"description": description}
    if has_error_body:
        response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return response
