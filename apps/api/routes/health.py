"""Liveness with component checks: 200 when PostgreSQL answers, 503 problem details when not."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from apps.api.deps import EngineDep
from apps.api.problems import problem

router = APIRouter(tags=["health"])


def _check_postgres(engine: Engine) -> dict[str, object]:
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return {"status": "down", "error": type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


@router.get("/healthz")
def healthz(engine: EngineDep) -> JSONResponse:
    """200 with each component's check when all are up, else 503 problem details naming what is down."""
    checks = {"postgres": _check_postgres(engine)}
    down = sorted(name for name, check in checks.items() if check["status"] != "up")
    if down:
        return problem(503, f"unavailable: {', '.join(down)}", title="Service Unavailable", checks=checks)
    return JSONResponse({"status": "ok", "checks": checks})
