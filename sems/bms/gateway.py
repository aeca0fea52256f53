"""Every BMS call of SEMS goes through the gateway: bulkhead, circuit breaker and retry per facility (S2).

- Bulkhead: at most `bms_facility_concurrency` calls in flight per facility, and each
  facility on its own worker (`for_each_facility`), so one hung BMS never delays the others.
- Breaker per BMS: `bms_breaker_timeouts` consecutive timeouts open it for
  `bms_breaker_reset_s` (only timeouts count: a SOAP fault is an answer).
- Retry: `bms_retries` more attempts, `bms_retry_delay_s` apart, with the same
  idempotency key, so a command whose answer was lost is never applied twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from prometheus_client import Counter

from sems.bms.client import BmsClient, BmsError, BmsTimeout, BmsUnavailable
from sems.resilience import CircuitBreaker, CircuitOpenError, retry
from sems.settings import Settings

T = TypeVar("T")

BMS_CALLS = Counter("sems_bms_calls_total", "BMS SOAP calls by facility and outcome", ["facility_id", "outcome"])


class BmsGateway:
    """Guarded access to the BMS of every facility; breakers live as long as the gateway."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep,
                 addresses: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._addresses = dict(addresses or {})  # facilities with a BMS address of their own
        self._sleep = sleep
        self._lock = threading.Lock()
        self._clients: dict[str, BmsClient] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._bulkheads: dict[str, threading.BoundedSemaphore] = {}

    def breaker(self, facility_id: str) -> CircuitBreaker:
        with self._lock:
            if facility_id not in self._breakers:
                self._breakers[facility_id] = CircuitBreaker(
                    f"bms:{facility_id}", failure_threshold=self.settings.bms_breaker_timeouts,
                    reset_timeout_s=self.settings.bms_breaker_reset_s, counts=(BmsTimeout,),
                )
            return self._breakers[facility_id]

    def call(self, facility_id: str, operation: Callable[[BmsClient], T]) -> T:
        """Run `operation` against the facility's BMS with bulkhead, breaker and retry."""
        client, bulkhead, breaker = self._client(facility_id), self._bulkhead(facility_id), self.breaker(facility_id)
        with bulkhead:
            try:
                result = retry(
                    lambda: breaker.call(lambda: operation(client)),
                    attempts=1 + self.settings.bms_retries, retry_on=(BmsTimeout, BmsUnavailable),
                    base_delay_s=self.settings.bms_retry_delay_s, max_delay_s=self.settings.bms_retry_delay_s,
                    jitter=0.0, sleep=self._sleep,
                )
            except (BmsError, CircuitOpenError) as exc:
                BMS_CALLS.labels(facility_id, type(exc).__name__).inc()
                raise
        BMS_CALLS.labels(facility_id, "ok").inc()
        return result

    def for_each_facility(self, facility_ids: Iterable[str], work: Callable[[str], T]) -> dict[str, T | Exception]:
        """`work(facility_id)` for every facility in parallel; each result or the exception it raised."""
        ids = list(facility_ids)
        workers = max(1, min(len(ids), self.settings.bms_max_parallel_facilities))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bms") as pool:
            futures = {fid: pool.submit(work, fid) for fid in ids}
            results: dict[str, T | Exception] = {}
            for fid, future in futures.items():
                error = future.exception()
                results[fid] = error if isinstance(error, Exception) else future.result()
            return results

    def _client(self, facility_id: str) -> BmsClient:
        with self._lock:
            if facility_id not in self._clients:
                self._clients[facility_id] = BmsClient(self.settings, facility_id,
                                                       self._addresses.get(facility_id))
            return self._clients[facility_id]

    def _bulkhead(self, facility_id: str) -> threading.BoundedSemaphore:
        with self._lock:
            if facility_id not in self._bulkheads:
                self._bulkheads[facility_id] = threading.BoundedSemaphore(self.settings.bms_facility_concurrency)
            return self._bulkheads[facility_id]
