"""The SEMS HTTP API: health, the facilities read API and Prometheus metrics (`uvicorn apps.api.main:app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from apps.api import problems
from apps.api.observability import Observe
from apps.api.read_side import close_read_side, open_read_side
from apps.api.routes import dr_events, facilities, health, jwks, metrics
from sems import logs
from sems.settings import Settings, get_settings
from sems.stores import postgres


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application, bound to `settings` (the process settings by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The engine connects lazily: the API starts (and says 503) even while PostgreSQL is down.
        app.state.engine = postgres.engine(settings)
        open_read_side(app, settings)
        try:
            yield
        finally:
            await close_read_side(app)
            app.state.engine.dispose()

    app = FastAPI(title="SEMS API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(Observe)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(facilities.router)
    app.include_router(dr_events.router)
    app.include_router(metrics.router)
    if not settings.auth_jwks_url:
        app.include_router(jwks.router)
    return app


logs.configure("api", get_settings().log_level)
app = create_app()
