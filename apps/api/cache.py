"""The API's Redis read cache (S4): jittered TTL, single-flight loads, stale-while-revalidate, versioned keys.

- Fresh for a random 8-12 s, so entries written together do not expire together.
- Refreshed ahead: a hit past `api_cache_refresh_ahead` of its freshness is answered at once
  and reloaded in the background (one loader, same lock), so under steady traffic an entry is
  replaced before it expires and no request waits for the database.
- One miss loads: the first request takes a lock (`SET NX PX`); the others wait for its
  entry, or, if an older entry exists, are answered from it meanwhile.
- While the store cannot answer, an entry is served up to 60 s past its freshness, marked
  stale (`x-cache: stale` and its `age`); after that, or with nothing cached, the caller
  gets `StoreUnavailable` (the route answers 503 with `Retry-After`).
- Keys carry the database's epoch (system identifier, timeline, start time), so a failover
  or restore, which changes it, leaves every old entry unread.
A Redis outage degrades to uncached reads through the breaker; it never fails a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aredis
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from apps.api.readmodel import StoreUnavailable
from sems.settings import Settings

log = logging.getLogger("apps.api.cache")
CACHE_RESULTS = Counter("sems_api_cache_total", "Cache lookups by result", ["result"])
EPOCH_KEY = "sems:api:db-epoch"
# Delete the lock only if it is still ours (it may have expired and been taken by another loader).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@dataclass(frozen=True)
class Cached:
    body: Any
    result: str  # hit, miss (this caller loaded), wait (another caller loaded), stale, bypass (Redis down)
    age_s: float
    refresh_due: bool = False  # a hit old enough to be reloaded in the background


class ReadCache:
    def __init__(self, settings: Settings, client: aredis.Redis) -> None:
        self.settings = settings
        self.redis = client
        self.epoch: str | None = None  # set from each new database connection (see `database_epoch`)
        self._published: str | None = None
        self._inflight: dict[str, asyncio.Future[Cached]] = {}
        self.revalidating: dict[str, asyncio.Task[None]] = {}  # background reloads by key

    async def _key(self, resource: str) -> str:
        epoch = self.epoch
        if epoch is None:  # no connection yet (database down since we started): the last epoch anyone saw
            last = await self.redis.get(EPOCH_KEY)
            epoch = last.decode() if isinstance(last, bytes) else "unknown"
        elif epoch != self._published:
            await self.redis.set(EPOCH_KEY, epoch)
            self._published = epoch
        return f"sems:api:{epoch}:{resource}"

    async def get(self, resource: str, load: Callable[[], Any]) -> Cached:
        """The cached answer for `resource`, loading it with `load` (blocking, run in a thread) when needed.

        Concurrent callers in this process share one lookup (in-process single flight); across
        processes the Redis lock makes sure only one of them loads.
        """
        pending = self._inflight.get(resource)
        if pending is not None:
            shared = await asyncio.shield(pending)
            # The one load was someone else's: this caller waited for it.
            return self._count(replace(shared, result="wait") if shared.result == "miss" else shared)
        future: asyncio.Future[Cached] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" warnings
        self._inflight[resource] = future
        try:
            result = await self._get(resource, load)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._inflight[resource]

    async def _get(self, resource: str, load: Callable[[], Any]) -> Cached:
        try:
            return self._count(await self._lookup(resource, load))
        except RedisError as exc:
            log.warning("redis unavailable, reading uncached", extra={"fields": {"error": str(exc)[:200]}})
            return self._count(Cached(await run_in_threadpool(load), "bypass", 0.0))

    async def _lookup(self, resource: str, load: Callable[[], Any]) -> Cached:
        key = await self._key(resource)
        entry = await self._read(key)
        if entry is not None and entry.result == "hit":
            if entry.refresh_due and key not in self.revalidating:
                task = asyncio.create_task(self._revalidate(key, load, entry))
                self.revalidating[key] = task
                task.add_done_callback(lambda _t: self.revalidating.pop(key, None))
            return entry
        return await self._refresh(key, load, entry)

    async def _revalidate(self, key: str, load: Callable[[], Any], entry: Cached) -> None:
        """Reload a hit that is close to expiry; the hit was already answered, so a failure only logs."""
        try:
            if (await self._refresh(key, load, entry)).result == "miss":
                CACHE_RESULTS.labels("refresh_ahead").inc()
        except Exception as exc:  # noqa: BLE001 - the next hit retries; the breaker guards the database
            log.warning("background cache reload failed", extra={"fields": {"key": key, "error": str(exc)[:200]}})

    async def _refresh(self, key: str, load: Callable[[], Any], stale: Cached | None) -> Cached:
        token = uuid.uuid4().hex
        lock_ms = int(self.settings.api_cache_lock_s * 1000)
        if not await self.redis.set(f"{key}:lock", token, nx=True, px=lock_ms):
            return stale if stale is not None else await self._wait_for(key, load)
        try:
            body = await run_in_threadpool(load)
        except StoreUnavailable:
            if stale is not None:
                return stale
            raise
        finally:
            await self.redis.eval(_RELEASE, 1, f"{key}:lock", token)  # type: ignore[misc]
        await self._write(key, body)
        return Cached(body, "miss", 0.0)

    async def _wait_for(self, key: str, load: Callable[[], Any]) -> Cached:
        """Another request is loading: wait for its entry; if it gave up without one, the store is down."""
        delay, deadline = 0.005, time.monotonic() + self.settings.api_cache_lock_s
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            entry = await self._read(key)
            if entry is not None:
                return Cached(entry.body, "wait", entry.age_s)
            if not await self.redis.exists(f"{key}:lock"):
                return await self._refresh(key, load, None)  # the loader failed: try ourselves (breaker decides)
            delay = min(delay * 2, 0.1)
        raise StoreUnavailable("the cache loader", "no answer within the lock time", self.settings.api_cache_lock_s)

    async def _read(self, key: str) -> Cached | None:
        raw = await self.redis.get(key)
        if raw is None:
            return None
        entry = json.loads(raw)
        age, fresh_s = max(0.0, time.time() - entry["stored_at"]), entry["fresh_s"]
        due = age >= fresh_s * self.settings.api_cache_refresh_ahead
        return Cached(entry["body"], "hit" if age < fresh_s else "stale", age, refresh_due=due)

    async def _write(self, key: str, body: Any) -> None:
        fresh_s = random.uniform(self.settings.api_cache_ttl_min_s, self.settings.api_cache_ttl_max_s)  # noqa: S311
        entry = json.dumps({"body": body, "stored_at": time.time(), "fresh_s": fresh_s}, default=str)
        # Kept past freshness for the stale window; Redis drops it after that.
        await self.redis.set(key, entry, px=int((fresh_s + self.settings.api_cache_stale_s) * 1000))

    @staticmethod
    def _count(entry: Cached) -> Cached:
        CACHE_RESULTS.labels(entry.result).inc()
        return entry


def database_epoch(dbapi_connection: Any) -> str:
    """What identifies this database's history: changes on failover (timeline), restore or restart."""
    with dbapi_connection.cursor() as cur:
        cur.execute("SELECT s.system_identifier, c.timeline_id, pg_postmaster_start_time() "
                    "FROM pg_control_system() s, pg_control_checkpoint() c")
        system_id, timeline, started = cur.fetchone()
    return f"{system_id}-{timeline}-{int(started.timestamp())}"
