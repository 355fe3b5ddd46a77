"""Responses serialised by pydantic-core straight to bytes.

Returning a model lets FastAPI validate it again and encode it through `jsonable_encoder`; the models
here are built by our own code and already valid, so that second pass only costs time on every answer.
The routes still declare `response_model`, so the OpenAPI document describes every body.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter

from assistant.service_models import ErrorBody


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.model_dump_json(), status_code=status_code)


class JSONBytes(Response):
    """A body the service has already serialised (a session's `SessionPublic` or `Report` JSON): the
    same status, headers and bytes as `ModelResponse` of the model they were serialised from."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        super().__init__(body, status_code=status_code)


def list_response(items: Sequence[BaseModel], adapter: TypeAdapter) -> Response:
    return Response(adapter.dump_json(list(items)), media_type="application/json")


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {code: {"model": ErrorBody} for code in codes}
