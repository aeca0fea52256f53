"""The one retry helper and the one circuit breaker of SEMS.

Every call that crosses a process boundary and may fail transiently goes through
`retry` (bounded attempts, exponential backoff with jitter, only for the exceptions
named), and where the review asks for it through a `CircuitBreaker` (fail fast while
a dependency is down, probe it again after a cool-down). Breaker state is exported as
the Prometheus gauge `sems_breaker_state{breaker=...}` (0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from enum import IntEnum
from typing import TypeVar

from prometheus_client import Gauge

T = TypeVar("T")

log = logging.getLogger(__name__)

BREAKER_STATE = Gauge("sems_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", ["breaker"])


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(Exception):
    """The breaker is open: the call was not attempted."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name} is open; retry in {retry_after_s:.1f}s")
        self.name = name
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `reset_timeout_s` lets one probe through.

    Only exceptions that are instances of `counts` count as failures (a validation error
    is the caller's problem, not the dependency's). Thread-safe.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        counts: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.counts = counts
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._open_since = 0.0  # when the current outage began (first open after closed)
        self._probing = False
        self._state = BreakerState.CLOSED
        BREAKER_STATE.labels(breaker=name).set(self._state)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current_state()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` through the breaker; raises `CircuitOpenError` without calling it while open."""
        self._before_call()
        try:
            result = fn()
        except self.counts:
            self._record(success=False)
            raise
        except BaseException:
            self._release_probe()
            raise
        self._record(success=True)
        return result

    def _current_state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _before_call(self) -> None:
        with self._lock:
            state = self._current_state()
            if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._probing):
                remaining = max(0.0, self.reset_timeout_s - (self._clock() - self._opened_at))
                raise CircuitOpenError(self.name, remaining)
            if state is BreakerState.HALF_OPEN:
                self._probing = True

    def _record(self, *, success: bool) -> None:
        with self._lock:
            self._probing = False
            if success:
                self._failures = 0
                self._set(BreakerState.CLOSED)
                return
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._set(BreakerState.OPEN)

    def _release_probe(self) -> None:
        with self._lock:
            self._probing = False

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        previous, self._state = self._state, state
        BREAKER_STATE.labels(breaker=self.name).set(state)
        self._log_transition(previous, state)

    def _log_transition(self, previous: BreakerState, state: BreakerState) -> None:
        # Only the edges of an outage get a line: probing a dead dependency goes open -> half-open
        # -> open every reset_timeout_s, two lines per cool-down for as long as it stays down.
        fields = {"breaker": self.name, "state": state.name.lower(), "failures": self._failures}
        if previous is BreakerState.CLOSED:
            self._open_since = self._clock()
            log.warning("circuit %s open after %d failures", self.name, self._failures, extra={"fields": fields})
        elif state is BreakerState.CLOSED:
            open_s = self._clock() - self._open_since
            log.info("circuit %s closed after %.1f s open", self.name, open_s,
                     extra={"fields": {**fields, "open_s": round(open_s, 3)}})
        else:
            log.debug("circuit %s %s", self.name, state.name.lower(), extra={"fields": fields})


def retry(
    fn: Callable[[], T],
    *,
    attempts: int,
    retry_on: tuple[type[BaseException], ...],
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    jitter: float = 0.1,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` up to `attempts` times, backing off exponentially between tries on `retry_on` errors.

    A fixed delay (the BMS's "2 retries, 5 s apart") is `base_delay_s=5, max_delay_s=5, jitter=0`.
    The last error propagates; other exceptions propagate at once. A `CircuitOpenError`
    is never retried here: waiting out the breaker is the caller's decision.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except CircuitOpenError:
            raise
        except retry_on as exc:
            if attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            sleep(delay * (1 + random.uniform(-jitter, jitter)))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable: attempts must be >= 1")
