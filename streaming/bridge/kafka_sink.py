"""The bridge's Kafka side: send records, settle MQTT tickets when Kafka acknowledged them, watch the broker.

A record that Kafka refuses after the producer's own retries marks the sink `failed` (for
the connection generation it belongs to); the bridge then lets the broker redeliver the
unacknowledged messages instead of acknowledging anything it could not store. Issue 7's
circuit breaker and disk spool will sit here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from sems.settings import Settings
from sems.stores.kafka import broker_answers
from streaming.bridge import metrics
from streaming.bridge.acks import AckLedger, Ticket
from streaming.bridge.records import KafkaRecord

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 5.0


class KafkaSink:
    """Sends records for the bridge; thread-safe where Kafka's callbacks call in."""

    def __init__(self, settings: Settings, producer: KafkaProducer, ledger: AckLedger) -> None:
        self.settings = settings
        self.producer = producer
        self.ledger = ledger
        self.failed = threading.Event()
        self.reachable = threading.Event()
        self._stop = threading.Event()
        self._prober = threading.Thread(target=self._probe_forever, name="kafka-probe", daemon=True)

    def start(self) -> None:
        self._prober.start()

    def send(self, record: KafkaRecord, tickets: Sequence[Ticket], readings: int = 0) -> None:
        """Send `record`; each ticket (already `expect`ed) is settled once Kafka acknowledged it."""
        generation = self.ledger.generation
        try:
            future = self.producer.send(record.topic, key=record.key, value=record.value, headers=record.headers)
        except KafkaError as exc:  # e.g. no metadata within max_block_ms: Kafka is down
            self._fail(exc, record.topic, generation)
            return
        future.add_callback(lambda _meta: self._delivered(record.topic, tickets, readings))
        future.add_errback(lambda exc: self._fail(exc, record.topic, generation))

    def _delivered(self, topic: str, tickets: Sequence[Ticket], readings: int) -> None:
        now_ms = time.time() * 1000
        for ticket in tickets:
            metrics.PUBLISH_LATENCY.observe(max(0.0, now_ms - ticket.received_at_ms) / 1000)
            self.ledger.settle(ticket)
        metrics.RECORDS_PUBLISHED.labels(topic).inc()
        metrics.READINGS_PUBLISHED.inc(readings)
        metrics.PENDING_ACKS.set(len(self.ledger))

    def _fail(self, exc: BaseException, topic: str, generation: int) -> None:
        metrics.KAFKA_ERRORS.inc()
        log.error("kafka send failed", extra={"fields": {"topic": topic, "error": repr(exc)}})
        if generation == self.ledger.generation:
            self.failed.set()

    def flush(self, timeout_s: float) -> None:
        try:
            self.producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            log.error("kafka flush incomplete", extra={"fields": {"error": repr(exc)}})

    def close(self, timeout_s: float) -> None:
        self._stop.set()
        self.flush(timeout_s)
        self.producer.close(timeout=timeout_s)

    def _probe_forever(self) -> None:
        """Keep `reachable` current so the health endpoint answers instantly."""
        while not self._stop.is_set():
            if broker_answers(self.settings, timeout_s=min(PROBE_INTERVAL_S, self.settings.kafka_timeout_s)):
                self.reachable.set()
            else:
                self.reachable.clear()
            metrics.KAFKA_REACHABLE.set(1 if self.reachable.is_set() else 0)
            self._stop.wait(PROBE_INTERVAL_S)
