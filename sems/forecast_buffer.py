"""Forecast rows into PostgreSQL, or into a Kafka buffer topic while PostgreSQL refuses them (C1).

`write` inserts idempotently on the `load_forecasts` primary key (facility_id, ts,
generated_at); when PostgreSQL rejects the write (down, timeout, read-only) the same rows
are produced to `settings.kafka_forecasts_buffer_topic` and nothing computed is lost.
`replay` drains that topic into PostgreSQL and commits the consumer offsets only after the
rows are committed there, so a crash between the two replays them again and the
`ON CONFLICT DO NOTHING` makes the second insert a no-op: every row lands exactly once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from sems.settings import Settings
from sems.stores import kafka, postgres

log = logging.getLogger(__name__)
COLUMNS = ("facility_id", "ts", "generated_at", "p10", "p50", "p90", "model_version", "source", "data_quality_score",
           "raw_p10", "raw_p90", "band_margin")
# Only model forecasts have them; other rows (and rows buffered before they existed) store NULL.
OPTIONAL = ("raw_p10", "raw_p90", "band_margin")
TIMESTAMPS = ("ts", "generated_at")
_INSERT = text(f"""
    INSERT INTO load_forecasts ({", ".join(COLUMNS)})
    VALUES ({", ".join(":" + c for c in COLUMNS)})
    ON CONFLICT ON CONSTRAINT load_forecasts_pkey DO NOTHING
""")


@dataclass
class WriteOutcome:
    stored: int  # rows committed in PostgreSQL
    buffered: int  # rows produced to the Kafka buffer instead
    error: str = ""  # why PostgreSQL refused them


def insert(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` in one transaction; rows already there (same key) are skipped."""
    db = postgres.engine(settings)
    try:
        with db.begin() as conn:
            conn.execute(_INSERT, [_columns(row) for row in rows])
    finally:
        db.dispose()


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row.get(c) if c in OPTIONAL else row[c] for c in COLUMNS}


def write(settings: Settings, rows: list[dict[str, Any]]) -> WriteOutcome:
    """Store `rows` in PostgreSQL; if it refuses them, buffer them in Kafka (raises only if both fail)."""
    if not rows:
        return WriteOutcome(0, 0)
    try:
        insert(settings, rows)
        return WriteOutcome(len(rows), 0)
    except (OperationalError, DBAPIError) as exc:
        reason = str(exc.orig or exc).splitlines()[0]
        log.warning("postgres refused forecasts, buffering in kafka", extra={"rows": len(rows), "reason": reason})
        buffer(settings, rows)
        return WriteOutcome(0, len(rows), reason)


def _encode(row: dict[str, Any]) -> bytes:
    return json.dumps({c: (v.isoformat() if c in TIMESTAMPS else v) for c, v in _columns(row).items()}).encode()


def _decode(value: bytes) -> dict[str, Any]:
    row = json.loads(value)
    return {**row, **{c: datetime.fromisoformat(row[c]) for c in TIMESTAMPS}}


def buffer(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Produce `rows` to the buffer topic (keyed by facility) and wait until the broker has them all."""
    with closing(kafka.producer(settings)) as producer:
        for row in rows:
            producer.send(settings.kafka_forecasts_buffer_topic, key=str(row["facility_id"]).encode(),
                          value=_encode(row))
        producer.flush(timeout=settings.kafka_timeout_s * 3)


@contextmanager
def _buffer_partitions(settings: Settings) -> Iterator[tuple[KafkaConsumer, list[TopicPartition]]]:
    """A consumer of the replay group that reads offsets only (no group join), and the buffer's partitions."""
    consumer = kafka.consumer(settings, settings.forecast_buffer_group)
    try:
        partitions = consumer.partitions_for_topic(settings.kafka_forecasts_buffer_topic) or set()
        yield consumer, [TopicPartition(settings.kafka_forecasts_buffer_topic, p) for p in sorted(partitions)]
    finally:
        consumer.close()


def pending(settings: Settings) -> int:
    """Buffered rows not replayed yet: end offsets minus the replay group's committed offsets.

    Reads offsets only (no group join), so a sensor can ask every few seconds cheaply.
    """
    with _buffer_partitions(settings) as (consumer, topic):
        if not topic:
            return 0
        ends = consumer.end_offsets(topic)
        starts = consumer.beginning_offsets(topic)
        return sum(ends[tp] - max(consumer.committed(tp) or 0, starts[tp]) for tp in topic)


def replayed_offsets(settings: Settings) -> dict[int, int]:
    """The replay group's committed offset per partition (0 where it committed none): how far replay got."""
    with _buffer_partitions(settings) as (consumer, topic):
        return {tp.partition: consumer.committed(tp) or 0 for tp in topic}


def replay(settings: Settings, *, batch: int = 5000, budget_s: float | None = None) -> int:
    """Move buffered forecasts into PostgreSQL; returns the rows read (inserted or already there).

    Raises (leaving the offsets uncommitted, so nothing is lost) if PostgreSQL still refuses them.
    With `budget_s`, stops after the batch that exceeds it (a sensor tick must end in time);
    the committed offsets let the next call carry on.
    """
    started = time.monotonic()
    replayed, deadline = 0, started + 3 * settings.kafka_timeout_s
    consumer = kafka.consumer(settings, settings.forecast_buffer_group, settings.kafka_forecasts_buffer_topic,
                              consumer_timeout_ms=int(settings.kafka_timeout_s * 1000), max_poll_records=batch)
    try:
        while True:
            polled = consumer.poll(timeout_ms=int(settings.kafka_timeout_s * 1000), max_records=batch)
            rows = [_decode(record.value) for records in polled.values() for record in records]
            if not rows and (consumer.assignment() or time.monotonic() > deadline):
                return replayed  # assigned and drained (or the group never formed: try next run)
            if not rows:
                continue
            insert(settings, rows)
            consumer.commit()  # only after PostgreSQL committed: at-least-once, the PK makes it exactly once
            replayed += len(rows)
            if budget_s is not None and time.monotonic() - started > budget_s:
                return replayed
    finally:
        consumer.close()
