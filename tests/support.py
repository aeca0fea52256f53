"""Helpers for tests: wait for a condition instead of sleeping; watch a Kafka topic from its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, timeout_s: float = 30.0, interval_s: float = 0.2, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; return it, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")
        time.sleep(interval_s)
        last = probe()
    return last


class TopicTail:
    """Records appended to a topic after the tail was opened (all partitions, no consumer group)."""

    def __init__(self, kafka: KafkaConsumer) -> None:
        self.kafka = kafka
        self.seen: list[ConsumerRecord] = []

    def matching(self, predicate: Callable[[ConsumerRecord], bool]) -> list[ConsumerRecord]:
        for batch in self.kafka.poll(timeout_ms=500).values():
            self.seen.extend(batch)
        return [r for r in self.seen if predicate(r)]


def header(record: ConsumerRecord, name: str) -> list[bytes]:
    return [value for key, value in record.headers if key == name]
