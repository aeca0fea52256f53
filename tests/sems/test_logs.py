"""Structured logs: one JSON object per line with the trace id, and throttling of a chatty library's repeats."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sems import logs


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter("test"))
    logger = logging.getLogger("kafkaesque-test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler, out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_carries_service_logger_and_the_current_trace_id(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    _, out = captured
    with logs.trace_context("abc123"):
        logging.getLogger("kafkaesque-test.sink").warning("publish failed: %s", "timeout")
    [line] = _lines(out)
    assert line["service"] == "test" and line["level"] == "warning"
    assert line["logger"] == "kafkaesque-test.sink" and line["msg"] == "publish failed: timeout"
    assert line["trace_id"] == "abc123"


def test_repeats_are_held_back_per_interval_and_counted_in_the_next_line_shown(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, out = captured
    clock = Clock()
    handler.addFilter(logs.Throttle("kafkaesque-test", 30.0, clock=clock))
    manager = logging.getLogger("kafkaesque-test.net.manager")
    for attempt in range(5):  # reconnect attempts, as kafka-python logs them while Kafka is down
        clock.now = attempt * 0.5
        manager.error("Connection failed: %s", f"ECONNREFUSED {attempt}")
    manager.warning("Bootstrap %s not ready; waiting %.2f secs", "bootstrap-0", 0.45)  # another kind: shown
    clock.now = 31.0
    manager.error("Connection failed: %s", "ECONNREFUSED 5")
    assert [line["msg"] for line in _lines(out)] == [
        "Connection failed: ECONNREFUSED 0",
        "Bootstrap bootstrap-0 not ready; waiting 0.45 secs",
        "Connection failed: ECONNREFUSED 5 (4 more like this held back since the last one shown)",
    ]


def test_loggers_outside_the_prefix_are_never_held_back(captured: tuple[logging.Handler, io.StringIO]) -> None:
    handler, out = captured
    handler.addFilter(logs.Throttle("kafkaesque-test.net", 30.0, clock=Clock()))
    sink = logging.getLogger("kafkaesque-test.sink")
    for _ in range(3):
        sink.warning("kafka publish failed; spooling to disk")
    assert len(_lines(out)) == 3
