"""Request dependencies as `Annotated` aliases: the settings and the control-plane database engine.

JWT scoping (issue N2: JWKS, expiry, facility-scoped claims) will add a `CurrentPrincipal`
dependency here; routes that read facility data will then filter by its facility claims.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from sems.settings import Settings


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
