"""Prometheus metrics of this process."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """The Prometheus text exposition of every metric registered in this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
