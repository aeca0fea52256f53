"""The Redis read cache of the running API: one database query per miss however many callers, jittered TTL."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from prometheus_client import REGISTRY

from apps.api.cache import EPOCH_KEY
from apps.api.main import create_app
from sems.settings import Settings
from sems.stack import redis as redis_service
from tests.apps.api.conftest import Get

CALLERS = 1000


def evict(settings: Settings, resource: str) -> str:
    """Remove the cached entry of `resource` (as a TTL expiry would); returns its key."""
    with redis_service.client(settings) as client:
        key = f"sems:api:{client.get(EPOCH_KEY).decode()}:{resource}"
        client.delete(key)
        return key


async def _stampede(settings: Settings, token: str, path: str, n: int) -> list[httpx.Response]:
    """`n` concurrent requests to an API instance in this process (so its query counter is readable here)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        return await asyncio.gather(*(client.get(path) for _ in range(n)))


def _queries(name: str) -> float:
    return REGISTRY.get_sample_value("sems_api_store_queries_total", {"store": "postgres", "query": name}) or 0.0


def test_a_thousand_concurrent_misses_query_the_database_once(settings: Settings, api_get: Get, token: str) -> None:
    api_get("/v1/facilities/fac-003/current")  # the stack's API publishes the database epoch
    evict(settings, "current:fac-003")
    # Fresh and lock long enough that, however slow the shared machine, all callers meet the one load.
    patient = settings.model_copy(update={"api_cache_ttl_min_s": 120.0, "api_cache_ttl_max_s": 120.0,
                                          "api_cache_lock_s": 60.0})
    before = _queries("facility")
    responses = asyncio.run(_stampede(patient, token, "/v1/facilities/fac-003/current", CALLERS))
    assert [r.status_code for r in responses] == [200] * CALLERS
    assert _queries("facility") - before == 1
    outcomes = [r.headers["x-cache"] for r in responses]
    assert outcomes.count("miss") == 1, {o: outcomes.count(o) for o in set(outcomes)}
    assert len({r.json()["as_of"] for r in responses}) == 1  # everyone got the one loaded answer


def test_entries_live_a_jittered_8_to_12_s_plus_the_stale_window(settings: Settings, api_get: Get) -> None:
    lifetimes = []
    for facility_id in ("fac-001", "fac-002", "fac-003", "fac-004", "fac-005"):
        key = evict(settings, f"forecast:{facility_id}")
        assert api_get(f"/v1/facilities/{facility_id}/forecast").headers["x-cache"] == "miss"
        with redis_service.client(settings) as client:
            lifetimes.append(client.pttl(key) / 1000 - settings.api_cache_stale_s)
    assert all(settings.api_cache_ttl_min_s - 1 <= t <= settings.api_cache_ttl_max_s for t in lifetimes), lifetimes
    assert len({round(t, 2) for t in lifetimes}) > 1, lifetimes  # not one fixed TTL


def test_a_hit_says_so_with_its_age(settings: Settings, api_get: Get) -> None:
    evict(settings, "dr-events:fac-002")
    first = api_get("/v1/facilities/fac-002/dr-events")
    again = api_get("/v1/facilities/fac-002/dr-events")
    assert (first.headers["x-cache"], first.headers["age"]) == ("miss", "0")
    assert again.headers["x-cache"] == "hit" and int(again.headers["age"]) <= settings.api_cache_ttl_max_s
    assert again.json() == first.json()


def _age(settings: Settings, key: str, fraction: float) -> None:
    """Make the cached entry under `key` `fraction` of its freshness old (as time would), keeping its TTL."""
    with redis_service.client(settings) as client:
        entry = json.loads(client.get(key))
        entry["stored_at"] -= entry["fresh_s"] * fraction
        client.set(key, json.dumps(entry), px=client.pttl(key))


async def _revalidating_burst(settings: Settings, token: str, path: str, n: int) -> list[httpx.Response]:
    """`n` concurrent requests to an in-process API, then wait for the background reloads they started."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        responses = await asyncio.gather(*(client.get(path) for _ in range(n)))
        await asyncio.gather(*app.state.cache.revalidating.values())
        return responses


def test_a_hit_near_expiry_is_answered_at_once_and_reloaded_once_in_the_background(
    settings: Settings, api_get: Get, token: str,
) -> None:
    patient = settings.model_copy(update={"api_cache_ttl_min_s": 120.0, "api_cache_ttl_max_s": 120.0})
    path = "/v1/facilities/fac-004/current"
    api_get(path)  # the stack's API publishes the database epoch
    key = evict(settings, "current:fac-004")
    first = asyncio.run(_revalidating_burst(patient, token, path, 1))[0]
    assert first.headers["x-cache"] == "miss"
    try:
        _age(settings, key, 0.9)  # past the refresh-ahead point, still fresh
        before = _queries("facility")
        responses = asyncio.run(_revalidating_burst(patient, token, path, 200))
        assert {r.headers["x-cache"] for r in responses} == {"hit"}  # nobody waited for the database
        # Answered from the near-expiry entry, or, once the background reload stored its replacement
        # (with a pooled QuestDB client it can land before the burst is through), from that one.
        ages = [int(r.headers["age"]) for r in responses]
        assert max(ages) >= 100 and all(age >= 100 or age < 60 for age in ages)
        assert _queries("facility") - before == 1  # one background reload for the whole burst
        with redis_service.client(settings) as client:
            assert time.time() - json.loads(client.get(key))["stored_at"] < 60  # the entry was replaced
    finally:
        evict(settings, "current:fac-004")  # its 120 s freshness must not outlive this test
