"""Request dependencies as `Annotated` aliases: settings, database engine, read cache and read model.

The caller's identity (`CurrentPrincipal`, JWT via JWKS, N2) lives in `apps/api/auth.py`.
They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and
those hand-offs were most of a cached answer's cost.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from apps.api.cache import ReadCache
from apps.api.readmodel import ReadModel
from sems.settings import Settings


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_cache(request: Request) -> ReadCache:
    return request.app.state.cache  # type: ignore[no-any-return]


async def get_read_model(request: Request) -> ReadModel:
    return request.app.state.read_model  # type: ignore[no-any-return]


CacheDep = Annotated[ReadCache, Depends(get_cache)]
ReadModelDep = Annotated[ReadModel, Depends(get_read_model)]
