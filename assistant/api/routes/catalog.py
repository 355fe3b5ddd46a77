"""`GET /setups`, `GET /histories`: what the server operator registered; clients name these."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.api.deps import ServiceSettings
from assistant.service_models import HistoryPublic, SetupPublic

router = APIRouter(tags=["catalog"])


@router.get("/setups", response_model=list[SetupPublic])
async def list_setups(settings: ServiceSettings) -> list[SetupPublic]:
    return settings.setup_list()


@router.get("/histories", response_model=list[HistoryPublic])
async def list_histories(settings: ServiceSettings) -> list[HistoryPublic]:
    return settings.history_list()
