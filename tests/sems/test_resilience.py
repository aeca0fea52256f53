"""The one retry helper and the one circuit breaker, driven by a controllable clock."""

from __future__ import annotations

import logging

import pytest

from sems.resilience import BREAKER_STATE, BreakerState, CircuitBreaker, CircuitOpenError, retry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fail() -> None:
    raise TimeoutError("down")


def test_breaker_opens_after_threshold_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-open", failure_threshold=3, reset_timeout_s=10, clock=clock)
    calls = 0

    def failing() -> None:
        nonlocal calls
        calls += 1
        _fail()

    for _ in range(3):
        with pytest.raises(TimeoutError):
            breaker.call(failing)
    assert breaker.state is BreakerState.OPEN
    assert BREAKER_STATE.labels(breaker="t-open")._value.get() == 2
    with pytest.raises(CircuitOpenError) as raised:
        breaker.call(failing)
    assert calls == 3
    assert raised.value.retry_after_s == pytest.approx(10)


def test_half_open_probe_closes_on_success_and_reopens_on_failure() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-probe", failure_threshold=1, reset_timeout_s=5, clock=clock)
    with pytest.raises(TimeoutError):
        breaker.call(_fail)
    clock.now = 5
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(TimeoutError):
        breaker.call(_fail)
    assert breaker.state is BreakerState.OPEN
    clock.now = 10
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_an_outage_is_logged_once_when_it_opens_and_once_when_it_closes(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = CircuitBreaker("t-log", failure_threshold=2, reset_timeout_s=5, clock=clock)
    caplog.set_level(logging.INFO, logger="sems.resilience")
    for _ in range(4):  # two failures open it, two more calls are refused while open
        with pytest.raises((TimeoutError, CircuitOpenError)):
            breaker.call(_fail)
    clock.now = 5
    with pytest.raises(TimeoutError):  # the half-open probe fails: open again, no new line
        breaker.call(_fail)
    clock.now = 12
    for _ in range(3):  # the next probe closes it; successes on a closed breaker log nothing
        breaker.call(lambda: None)
    lines = [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "sems.resilience"]
    assert lines == [
        ("WARNING", "circuit t-log open after 2 failures"),
        ("INFO", "circuit t-log closed after 12.0 s open"),
    ]


def test_errors_outside_counts_do_not_trip_the_breaker() -> None:
    breaker = CircuitBreaker("t-counts", failure_threshold=1, counts=(TimeoutError,))
    with pytest.raises(ValueError):
        breaker.call(lambda: int("x"))
    assert breaker.state is BreakerState.CLOSED


def test_retry_backs_off_exponentially_and_returns_the_first_success() -> None:
    delays: list[float] = []
    outcomes = iter([TimeoutError(), TimeoutError(), "done"])

    def flaky() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = retry(flaky, attempts=3, retry_on=(TimeoutError,), base_delay_s=1, jitter=0, sleep=delays.append)
    assert result == "done"
    assert delays == [1, 2]


def test_retry_gives_up_with_the_last_error_and_never_retries_other_errors() -> None:
    delays: list[float] = []
    with pytest.raises(TimeoutError):
        retry(_fail, attempts=3, retry_on=(TimeoutError,), base_delay_s=5, max_delay_s=5, jitter=0, sleep=delays.append)
    assert delays == [5, 5]
    with pytest.raises(ValueError):
        retry(lambda: int("x"), attempts=3, retry_on=(TimeoutError,), sleep=delays.append)
    assert delays == [5, 5]
