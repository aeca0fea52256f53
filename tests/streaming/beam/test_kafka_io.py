"""The job's Kafka source on the real broker: a run's partitions come out merged by record time, each record once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import closing

import pytest
from kafka import TopicPartition

from sems.settings import Settings
from sems.stores import kafka
from streaming.beam.kafka_io import OffsetRange, ReadOffsetRangeFn
from streaming.beam_job.offsets import RecordsBefore

SPACING_MS = {0: 10, 1: 35, 2: 100}  # facilities whose records cover more or less time each
SPAN_MS = 6_000


@pytest.fixture(scope="module")
def topic(settings: Settings) -> Iterator[tuple[str, int, dict[int, int]]]:
    """A 3-partition topic whose records are stamped `base + k * spacing` (value "partition:timestamp")."""
    name = f"test-merge-{uuid.uuid4().hex[:8]}"
    with closing(kafka.admin(settings)) as client:
        client.create_topics({name: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
    base = int(time.time() * 1000) - 60_000
    producer = kafka.producer(settings)
    counts = {}
    try:
        for partition, spacing in SPACING_MS.items():
            stamps = range(base, base + SPAN_MS, spacing)
            for ts in stamps:
                producer.send(name, value=f"{partition}:{ts}".encode(), partition=partition, timestamp_ms=ts)
            counts[partition] = len(stamps)
        producer.flush(timeout=settings.kafka_timeout_s)
    finally:
        producer.close(timeout=settings.kafka_timeout_s)
    yield name, base, counts
    with closing(kafka.admin(settings)) as client:
        client.delete_topics([name])


def test_a_runs_partitions_are_read_merged_by_record_time(
    settings: Settings, topic: tuple[str, int, dict[int, int]]
) -> None:
    name, _, counts = topic
    source = ReadOffsetRangeFn(settings)
    source.setup()
    try:
        records = list(source.process([OffsetRange(name, p, 0, n) for p, n in counts.items()]))
    finally:
        source.teardown()
    stamps = [int(r.value.split(b":")[1]) for r in records]
    assert stamps == sorted(stamps)  # read as fetched, partition 0's 600 records came before partition 2's 60
    assert sorted((r.partition, r.offset) for r in records) == [(p, o) for p, n in counts.items() for o in range(n)]


def test_a_partial_range_ends_where_it_was_planned(settings: Settings, topic: tuple[str, int, dict[int, int]]) -> None:
    name, _, counts = topic
    source = ReadOffsetRangeFn(settings)
    source.setup()
    try:
        records = list(source.process([OffsetRange(name, 0, 100, 150), OffsetRange(name, 2, 0, counts[2])]))
    finally:
        source.teardown()
    assert sorted((r.partition, r.offset) for r in records) == (
        [(0, o) for o in range(100, 150)] + [(2, o) for o in range(counts[2])])


def test_kafka_counts_each_partitions_records_before_a_time(
    settings: Settings, topic: tuple[str, int, dict[int, int]]
) -> None:
    name, base, counts = topic
    parts = {TopicPartition(name, p): 0 for p in counts}
    with closing(kafka.consumer(settings, None, enable_auto_commit=False)) as consumer:  # type: ignore[arg-type]
        before = RecordsBefore(consumer, parts, {TopicPartition(name, p): n for p, n in counts.items()})
        assert before(base + 1_000) == {TopicPartition(name, p): -(-1_000 // s) for p, s in SPACING_MS.items()}
        assert before(base + SPAN_MS + 1) == {TopicPartition(name, p): n for p, n in counts.items()}  # all of them
