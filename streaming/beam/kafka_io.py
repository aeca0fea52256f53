"""Kafka inside the pipeline: read fixed offset ranges (the bounded source) and publish DLQ entries.

The source is the project's own on kafka-python (no Java expansion service): an
`OffsetRange` [start, end) of one partition is read with a group-less consumer
(assign + seek), so a run reads exactly the range the driver planned and will commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from sems.settings import Settings
from sems.stores import kafka
from streaming.beam.records import DlqEntry, KafkaRecord

POLL_MS = 200


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Offsets [start, end) of one partition: what one bounded run reads and then commits."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class ReadOffsetRangeFn(beam.DoFn):  # type: ignore[misc]
    """OffsetRange -> its KafkaRecords, in offset order; fails if the range cannot be read in time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: KafkaConsumer | None = None

    def setup(self) -> None:
        self.consumer = kafka.consumer(self.settings, None, enable_auto_commit=False)  # type: ignore[arg-type]

    def process(self, offsets: OffsetRange) -> Iterator[KafkaRecord]:
        assert self.consumer is not None
        tp = TopicPartition(offsets.topic, offsets.partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, offsets.start)
        deadline = time.monotonic() + self.settings.kafka_timeout_s
        next_offset = offsets.start
        while next_offset < offsets.end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka {tp} stuck at offset {next_offset} of [{offsets.start}, {offsets.end})")
            for message in self.consumer.poll(timeout_ms=POLL_MS).get(tp, []):
                if message.offset >= offsets.end:
                    break
                next_offset = message.offset + 1
                yield KafkaRecord(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    tuple((k, v) for k, v in message.headers or ()),
                )

    def teardown(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)


class PublishDlqFn(beam.DoFn):  # type: ignore[misc]
    """Sends each DlqEntry to the readings DLQ (original bytes, `reason` header); flushes per bundle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: KafkaProducer | None = None
        self.pending: list[Any] = []

    def process(self, entry: DlqEntry) -> None:
        if self.producer is None:  # created on the first bad record only: most runs have none
            self.producer = kafka.producer(self.settings)
        record = entry.record
        headers = [
            ("reason", entry.reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
            *((k, v) for k, v in record.headers if k in ("trace_id", "received_at_ms")),
        ]
        self.pending.append(
            self.producer.send(
                self.settings.kafka_readings_dlq_topic, key=record.key, value=record.value, headers=headers
            )
        )

    def finish_bundle(self) -> None:
        if self.producer is not None:
            self.producer.flush(timeout=self.settings.kafka_timeout_s)
        # get() raises if a send failed, so the run fails and the batch is retried, not committed.
        for future in self.pending:
            future.get(timeout=self.settings.kafka_timeout_s)
        self.pending = []

    def teardown(self) -> None:
        if self.producer is not None:
            self.producer.close(timeout=self.settings.kafka_timeout_s)
