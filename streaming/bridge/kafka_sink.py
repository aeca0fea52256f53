"""The bridge's Kafka side: publish each cycle's records through a circuit breaker, or spool them to disk (C4).

The main loop collects a cycle's records (`send`), then `dispatch`es them: published and
acknowledged by Kafka within `bridge_publish_timeout_s`, or, if that fails, the breaker is
open or the spool still holds older records (order), appended to the durable spool. Either
way the MQTT tickets behind them are settled only once the records are safe (Kafka ack or
fsync). `drain` sends the spool back to Kafka oldest first whenever the breaker lets a call
through; a half-open breaker's probe is the drain itself.

After a failed publish the producer is dropped (its unsent records are in the spool) and a
new one is made on the next attempt: an idempotent producer that had batches expire cannot
be trusted to continue, and a fresh one cannot be built while Kafka is down anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError

from sems.resilience import BreakerState, CircuitBreaker, CircuitOpenError
from sems.settings import Settings
from sems.stores.kafka import broker_answers
from streaming.bridge import metrics
from streaming.bridge.acks import AckLedger, Ticket
from streaming.bridge.records import KafkaRecord, too_large_record
from streaming.bridge.spool import Spool

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 5.0
# After failed publishes to a broker that answers (slow, not down) a publish waits up to 4x its size-based
# deadline: (5 s + 4 MiB at 2 MiB/s) x 4 = 28 s, inside the main loop's 30 s liveness.
MAX_PATIENCE = 4
Outgoing = tuple[KafkaRecord, Sequence[Ticket], int]  # record, the tickets it settles, readings in it


class KafkaSink:
    """Publishes or spools the bridge's records; only the main loop calls it (the prober runs beside)."""

    def __init__(
        self, settings: Settings, make_producer: Callable[[], KafkaProducer], ledger: AckLedger, spool: Spool
    ) -> None:
        self.settings = settings
        self.make_producer = make_producer
        self.producer: KafkaProducer | None = None
        self.ledger, self.spool = ledger, spool
        self.breaker = CircuitBreaker(
            "bridge-kafka",
            failure_threshold=settings.bridge_breaker_failures,
            reset_timeout_s=settings.bridge_breaker_reset_s,
            counts=(KafkaError, TimeoutError),
        )
        self.outbox: list[Outgoing] = []
        self.patience = 1
        self.reachable = threading.Event()
        self._stop = threading.Event()
        self._prober = threading.Thread(target=self._probe_forever, name="kafka-probe", daemon=True)
        metrics.SPOOL_BYTES.set(spool.bytes)

    def start(self) -> None:
        self._prober.start()

    def send(self, record: KafkaRecord, tickets: Sequence[Ticket], readings: int = 0) -> None:
        """Queue `record` for this cycle; each ticket (already `expect`ed) settles once it is safe."""
        self.outbox.append((record, tickets, readings))

    def dispatch(self) -> None:
        """Publish this cycle's records, or spool them; then settle their tickets."""
        if not self.outbox:
            return
        batch, self.outbox = self.outbox, []
        records = [record for record, _, _ in batch]
        if not self.spool and self.breaker.state is not BreakerState.OPEN:
            try:
                self.breaker.call(lambda: self._publish(records))
            except (CircuitOpenError, KafkaError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self._settle(batch, published=True)
                return
        self.spool.append(records)
        metrics.READINGS_SPOOLED.inc(sum(readings for _, _, readings in batch))
        metrics.SPOOL_BYTES.set(self.spool.bytes)
        self._settle(batch, published=False)

    def drain(self, max_frames: int) -> int:
        """Send up to `max_frames` spool frames to Kafka if the breaker allows; returns records sent."""
        if not self.spool or self.breaker.state is BreakerState.OPEN:
            return 0
        try:
            sent = self.spool.drain(lambda records: self.breaker.call(lambda: self._publish(records)), max_frames)
        except (CircuitOpenError, KafkaError, TimeoutError) as exc:
            self._failed(exc)
            sent = 0
        metrics.SPOOL_BYTES.set(self.spool.bytes)
        metrics.RECORDS_DRAINED.inc(sent)
        return sent

    def _publish(self, records: list[KafkaRecord]) -> None:
        """Send and wait until Kafka acknowledged every record (raises KafkaError on timeout or refusal)."""
        started = time.monotonic()
        # The deadline grows with the payload: a fixed one would fail a large spool frame forever on a
        # slow broker (each failed attempt having delivered it once more), a livelock seen under load.
        payload = sum(len(r.value) for r in records)
        timeout_s = self.settings.bridge_publish_timeout_s + payload / self.settings.bridge_publish_min_bytes_per_s
        timeout_s *= self.patience  # doubled after each failed publish, so a slow broker is eventually waited for
        if self.producer is None:
            self.producer = self.make_producer()
        futures = []
        for record in records:
            try:
                futures.append(self.producer.send(record.topic, key=record.key, value=record.value,
                                                  headers=record.headers))
            except MessageSizeTooLargeError as exc:  # the record's fault, not Kafka's: DLQ it, do not retry it
                entry = too_large_record(self.settings.kafka_readings_dlq_topic, record, str(exc))
                futures.append(self.producer.send(entry.topic, key=entry.key, value=entry.value,
                                                  headers=entry.headers))
        self.producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=max(0.1, timeout_s - (time.monotonic() - started)))
        self.patience = 1

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, CircuitOpenError):
            if self.reachable.is_set():  # the broker answers but acks slowly: wait longer next time
                self.patience = min(MAX_PATIENCE, self.patience * 2)
            metrics.KAFKA_ERRORS.inc()
            # Once the breaker has opened it logs the outage; its failed probes (one per reset
            # interval for as long as Kafka is down) are not news.
            level = logging.WARNING if self.breaker.state is BreakerState.CLOSED else logging.DEBUG
            log.log(level, "kafka publish failed; spooling to disk", extra={"fields": {"error": repr(exc)[:300]}})
            if self.producer is not None:
                _discard(self.producer)
                self.producer = None

    def _settle(self, batch: list[Outgoing], *, published: bool) -> None:
        now_ms = time.time() * 1000
        for record, tickets, readings in batch:
            if published:  # once per record, for its oldest message: per message it cost ~2 us (bucket loop)
                oldest_ms = min(ticket.received_at_ms for ticket in tickets)
                metrics.PUBLISH_LATENCY.observe(max(0.0, now_ms - oldest_ms) / 1000)
                metrics.RECORDS_PUBLISHED.labels(record.topic).inc()
                metrics.READINGS_PUBLISHED.inc(readings)
        # All at once: settled one by one, the tickets of a cycle's records (interleaved by facility)
        # released the ledger in dozens of small steps, each its own PUBACK write.
        self.ledger.settle_all(ticket for _, tickets, _ in batch for ticket in tickets)
        metrics.PENDING_ACKS.set(len(self.ledger))

    def close(self, timeout_s: float) -> None:
        self._stop.set()
        if self.producer is not None:
            self.producer.close(timeout=timeout_s)

    def _probe_forever(self) -> None:
        """Keep `reachable` current so the readiness endpoint answers instantly."""
        while not self._stop.is_set():
            if broker_answers(self.settings, timeout_s=min(PROBE_INTERVAL_S, self.settings.kafka_timeout_s)):
                self.reachable.set()
            else:
                self.reachable.clear()
            metrics.KAFKA_REACHABLE.set(1 if self.reachable.is_set() else 0)
            self._stop.wait(PROBE_INTERVAL_S)


def _discard(producer: KafkaProducer) -> None:
    """Close without waiting, dropping unsent records (they are in the spool)."""
    try:
        producer.close(timeout=0)
    except KafkaError:
        # kafka-python's close() flushes first and gives up when that times out, leaving the sender thread
        # running with the records; stop it the way close() would have.
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
