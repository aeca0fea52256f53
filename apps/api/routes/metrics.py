"""Prometheus metrics of this process, and the DR reconciliation gauges read from PostgreSQL at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.api.deps import EngineDep, ReadModelDep, SettingsDep
from apps.api.dr import reconciliation

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(engine: EngineDep, settings: SettingsDep, read_model: ReadModelDep) -> Response:
    """The Prometheus text exposition of every metric registered in this process."""
    await run_in_threadpool(reconciliation.refresh, engine, settings, read_model.guard)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
