"""Helpers of the API tests: tokens from the development issuer and requests to the stack's API service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from apps.api import dev_issuer
from sems.facilities import demo_fleet
from sems.settings import Settings

TIMEOUT_S = 10.0
Get = Callable[..., httpx.Response]


@pytest.fixture(scope="session")
def fleet_ids(settings: Settings) -> list[str]:
    return [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]


@pytest.fixture(scope="session")
def token(settings: Settings, fleet_ids: list[str]) -> str:
    """A valid token for every demo facility."""
    return dev_issuer.mint(settings, fleet_ids, subject="test-analyst")


@pytest.fixture(scope="session")
def api_get(settings: Settings, token: str) -> Get:
    """GET on the running API; `bearer=None` sends no Authorization header, a string sends that token."""

    def get(path: str, bearer: str | None = token, **headers: Any) -> httpx.Response:
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return httpx.get(f"http://{settings.host}:{settings.api_port}{path}", headers=headers, timeout=TIMEOUT_S)

    return get
