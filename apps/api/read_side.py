"""Wiring of the read API into the app: JWKS client, Redis cache, PostgreSQL breaker, read model.

`open_read_side` runs in the app's lifespan after the engine exists; `close_read_side` at
shutdown. Kept out of `main.py` so the app factory stays a list of parts.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis
from fastapi import FastAPI
from sqlalchemy import event

from apps.api import auth
from apps.api.cache import ReadCache, database_epoch
from apps.api.readmodel import ReadModel, breaker
from sems.settings import Settings


def open_read_side(app: FastAPI, settings: Settings) -> None:
    engine = app.state.engine
    # A blocking pool: under a burst, requests queue for one of a bounded set of connections instead of failing.
    pool = aredis.BlockingConnectionPool(
        host=settings.host, port=settings.redis_port, max_connections=64, timeout=settings.api_cache_lock_s,
        socket_timeout=settings.redis_timeout_s, socket_connect_timeout=settings.redis_timeout_s,
    )
    client = aredis.Redis(connection_pool=pool)
    cache = ReadCache(settings, client)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Every new connection (so every reconnect after a failover) re-reads the epoch that versions cache keys.
        cache.epoch = database_epoch(dbapi_connection)

    event.listen(engine, "connect", on_connect)
    app.state.cache = cache
    app.state.read_model = ReadModel(settings, engine, breaker(settings))
    app.state.jwk_client = auth.jwk_client(settings)
    app.state.validated_tokens = auth.ValidatedTokens(settings)


async def close_read_side(app: FastAPI) -> None:
    await app.state.cache.redis.aclose(close_connection_pool=True)
