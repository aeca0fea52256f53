"""PostgreSQL really stopped: the API answers from its cache (marked stale) or fails fast with 503 + Retry-After.

After PostgreSQL is back, the breaker closes, and because the database's epoch changed
(a restart, like a failover, starts a new one), no entry of the old epoch is served again.
"""

from __future__ import annotations

import re

import httpx

from apps.api.cache import EPOCH_KEY
from sems.settings import Settings
from sems.stack import controller
from sems.stack import redis as redis_service
from tests.apps.api.conftest import Get
from tests.apps.api.test_cache import evict
from tests.support import wait_until

CURRENT = "/v1/facilities/fac-004/current"


def _epoch(settings: Settings) -> str:
    with redis_service.client(settings) as client:
        return str(client.get(EPOCH_KEY).decode())


def _breaker_state(api_get: Get) -> float | None:
    metrics = api_get("/metrics", bearer=None).text
    match = re.search(r'^sems_breaker_state{breaker="api-postgres"} (\S+)$', metrics, re.M)
    return float(match.group(1)) if match else None


def _cached_as(api_get: Get, outcome: str) -> httpx.Response | None:
    response = api_get(CURRENT)
    return response if response.status_code == 200 and response.headers["x-cache"] == outcome else None


def _while_postgres_is_down(settings: Settings, api_get: Get) -> None:
    # Cached before the outage: still answered, first fresh, then explicitly stale, never an error.
    assert api_get(CURRENT).status_code == 200
    stale = wait_until(lambda: _cached_as(api_get, "stale"),
                       timeout_s=settings.api_cache_ttl_max_s + 10, what="the cached answer to turn stale")
    assert stale is not None
    assert stale.status_code == 200 and int(stale.headers["age"]) >= settings.api_cache_ttl_min_s
    # Not cached: fail fast with a problem document that says when to come back.
    evict(settings, "forecast:fac-005")
    refused = api_get("/v1/facilities/fac-005/forecast")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert "PostgreSQL is unavailable" in refused.json()["detail"]
    # Consecutive failures open the breaker; then the API fails fast without trying PostgreSQL.
    wait_until(lambda: api_get("/v1/facilities/fac-005/forecast").status_code == 503 and _breaker_state(api_get) == 2,
               timeout_s=30, what="the PostgreSQL breaker to open")
    assert "circuit open" in api_get("/v1/facilities/fac-005/forecast").json()["detail"]
    assert api_get("/healthz", bearer=None).status_code == 503


def test_postgres_down_answers_from_cache_or_503_then_recovers(settings: Settings, api_get: Get) -> None:
    warm = api_get(CURRENT)
    assert warm.status_code == 200
    epoch_before = _epoch(settings)
    controller.down(settings, ["postgres"])
    try:
        _while_postgres_is_down(settings, api_get)
    finally:
        controller.up(settings, ["postgres"])
    # Recovery: the breaker lets a probe through after its reset time; the new epoch means a fresh load.
    fresh = wait_until(lambda: _cached_as(api_get, "miss"), timeout_s=settings.api_breaker_reset_s + 30,
                       what="a fresh answer after PostgreSQL restarted")
    assert fresh is not None
    assert fresh.json()["as_of"] > warm.json()["as_of"]
    # That load's connection saw the new epoch: from now on keys are new, so nothing cached before is read.
    after = api_get(CURRENT)
    assert _epoch(settings) != epoch_before
    assert after.headers["x-cache"] == "miss"
    assert _breaker_state(api_get) == 0
