"""Kafka inside the pipeline: read fixed offset ranges (the bounded source) and publish DLQ entries.

The source is the project's own on kafka-python (no Java expansion service): the run's
`OffsetRange`s [start, end), one per partition, are read with a group-less consumer
(assign + seek), so a run reads exactly the ranges the driver planned and will commit.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from sems.settings import Settings
from sems.stores import kafka
from streaming.beam.records import DlqEntry, KafkaRecord

POLL_MS = 200
FETCH_PARTITION_BYTES = 4 * 1024 * 1024  # per partition and fetch (kafka-python: 1 MiB): fewer round trips
POLL_RECORDS = 2000  # per poll (kafka-python: 500)


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
    """The run's OffsetRanges (one element) -> their KafkaRecords, all partitions read together, merged in time.

    Readings are keyed by facility, so each partition is one facility's stream. Read as the
    fetches come, one facility ran up to 13 s of event time ahead of another (measured), and
    every QuestDB commit then landed out of order into rows already written: QuestDB rewrote
    8-9 rows for each row applied. So the records are merged by their Kafka timestamp (the
    bridge's produce time, in step with the readings' time): a record is emitted only while
    every unfinished partition has one buffered to compare with. What waits is bounded by the
    run (`beam_batch_max_records`). Partitions are not paused to hold a fast one back: with
    kafka-python 3.0.12 a partition paused and resumed mid-run stopped receiving its parked
    fetch, and the run timed out (seen once, in a drain).
    Fails if no record arrives for `kafka_timeout_s` while ranges are unfinished.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: KafkaConsumer | None = None

    def setup(self) -> None:
        self.consumer = kafka.consumer(
            self.settings, None, enable_auto_commit=False,  # type: ignore[arg-type]
            max_partition_fetch_bytes=FETCH_PARTITION_BYTES, max_poll_records=POLL_RECORDS)

    def process(self, ranges: Sequence[OffsetRange]) -> Iterator[KafkaRecord]:
        assert self.consumer is not None
        left = {TopicPartition(r.topic, r.partition): r for r in ranges if r.size > 0}
        self.consumer.assign(list(left))
        self.consumer.resume(*left)  # paused when a previous run finished them
        for tp, offsets in left.items():
            self.consumer.seek(tp, offsets.start)
        merge = _TimeMerge(list(left))
        deadline = time.monotonic() + self.settings.kafka_timeout_s
        while left:
            if time.monotonic() > deadline:
                stuck = ", ".join(f"{tp.partition}@{self.consumer.position(tp)}<{r.end}" for tp, r in left.items())
                raise TimeoutError(f"Kafka ranges stuck for {self.settings.kafka_timeout_s}s: {stuck}")
            for tp, messages in self.consumer.poll(timeout_ms=POLL_MS).items():
                wanted = left.get(tp)
                if wanted is None:
                    continue
                merge.add(tp, [m for m in messages if m.offset < wanted.end])
                deadline = time.monotonic() + self.settings.kafka_timeout_s
                if messages[-1].offset + 1 >= wanted.end:
                    del left[tp]
                    merge.finish(tp)
                    self.consumer.pause(tp)  # done: fetch no further
            yield from map(_record, merge.ready())
        yield from map(_record, merge.ready())

    def teardown(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)


class _TimeMerge:
    """A k-way merge of partitions' records by Kafka timestamp, emitting only what no open partition can precede."""

    def __init__(self, partitions: Sequence[TopicPartition]) -> None:
        self.queues: dict[TopicPartition, deque[Any]] = {tp: deque() for tp in partitions}
        self.open = set(partitions)
        self.heap: list[tuple[int, int, TopicPartition]] = []  # (timestamp of the queue's head, partition, tp)

    def add(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        queue = self.queues[tp]
        if messages and not queue:
            heapq.heappush(self.heap, (messages[0].timestamp, tp.partition, tp))
        queue.extend(messages)

    def finish(self, tp: TopicPartition) -> None:
        self.open.discard(tp)

    def ready(self) -> Iterator[Any]:
        """Records in timestamp order, while every open partition has one buffered (or none is open)."""
        while self.heap and all(self.queues[tp] for tp in self.open):
            _, _, tp = heapq.heappop(self.heap)
            queue = self.queues[tp]
            yield queue.popleft()
            if queue:
                heapq.heappush(self.heap, (queue[0].timestamp, tp.partition, tp))


def _record(message: Any) -> KafkaRecord:
    return KafkaRecord(
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
            *((k, v) for k, v in record.headers if k in ("trace_id", "trace_readings", "received_at_ms")),
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
