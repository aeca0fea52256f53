"""Kafka inside the pipeline: read fixed offset ranges (the bounded source) and publish DLQ entries.

The source is the project's own on kafka-python (no Java expansion service): the run's
`OffsetRange`s [start, end), one per partition, are read with a group-less consumer
(assign + seek), so a run reads exactly the ranges the driver planned and will commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
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
    """The run's OffsetRanges (one element) -> their KafkaRecords, all partitions read together.

    Reading the partitions together rather than one after another keeps the records roughly in
    event-time order across facilities (each fetch brings ~1 MiB of every partition): the raw
    writes then mostly append to QuestDB's newest rows, where partition after partition every
    chunk of a facility was merged out of order into the rows of the facilities written before.
    Fails if no record arrives for `kafka_timeout_s` while ranges are unfinished.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: KafkaConsumer | None = None

    def setup(self) -> None:
        self.consumer = kafka.consumer(self.settings, None, enable_auto_commit=False)  # type: ignore[arg-type]

    def process(self, ranges: Sequence[OffsetRange]) -> Iterator[KafkaRecord]:
        assert self.consumer is not None
        left = {TopicPartition(r.topic, r.partition): r for r in ranges if r.size > 0}
        self.consumer.assign(list(left))
        self.consumer.resume(*left)  # paused when a previous run finished them
        for tp, offsets in left.items():
            self.consumer.seek(tp, offsets.start)
        deadline = time.monotonic() + self.settings.kafka_timeout_s
        while left:
            if time.monotonic() > deadline:
                stuck = ", ".join(f"{tp.partition}@{self.consumer.position(tp)}<{r.end}" for tp, r in left.items())
                raise TimeoutError(f"Kafka ranges stuck for {self.settings.kafka_timeout_s}s: {stuck}")
            for tp, messages in self.consumer.poll(timeout_ms=POLL_MS).items():
                wanted = left.get(tp)
                if wanted is None:
                    continue
                yield from _records(messages, wanted.end)
                deadline = time.monotonic() + self.settings.kafka_timeout_s
                if messages[-1].offset + 1 >= wanted.end:
                    del left[tp]
                    self.consumer.pause(tp)  # done: fetch no further

    def teardown(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)


def _records(messages: Sequence[Any], end: int) -> Iterator[KafkaRecord]:
    for message in messages:
        if message.offset >= end:
            return
        yield KafkaRecord(
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            tuple((k, v) for k, v in message.headers or ()),
        )


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
