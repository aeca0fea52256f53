"""The bench's measurements: Prometheus samples by name (`null` ones skipped), and its wait on the bridge."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from kafka import TopicPartition

from sems.settings import Settings
from streaming.bench.measure import bridge_received, samples, wait_bridge_published
from streaming.bench.peer import end_offsets
from tests.support import TopicTail

PAGE = """# HELP questdb_commits_total commits
# TYPE questdb_commits_total counter
questdb_commits_total 1234
questdb_wal_apply_written_rows_total 3.5e6
questdb_memory_free_count null
sems_beam_batch_duration_seconds_sum{job="beam"} 12.25
sems_beam_runs_total{job="beam",le="+Inf"} 7 1764380000000
"""


def test_numeric_samples_are_read_by_name_and_null_ones_skipped() -> None:
    assert samples(PAGE) == {
        "questdb_commits_total": 1234.0,
        "questdb_wal_apply_written_rows_total": 3_500_000.0,
        "sems_beam_batch_duration_seconds_sum": 12.25,
        "sems_beam_runs_total": 7.0,
    }


def test_once_the_bridge_is_quiet_what_the_broker_acknowledged_is_in_kafka(
    settings: Settings, facility_id: str, device: Callable[..., None], tail: Callable[[str], TopicTail],
) -> None:
    readings = tail(settings.kafka_readings_topic)
    meter_id = f"{facility_id}-quiet-{uuid.uuid4().hex[:6]}"
    before = bridge_received(settings)
    for seq in range(20):
        body = json.dumps({"ts": int(time.time() * 1000), "kw": 1.0, "seq": seq}).encode()
        device(f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{meter_id}", body)

    assert wait_bridge_published(settings, before, 20, settle_s=30)

    # No waiting for more to be produced: the records are in Kafka below today's end offsets.
    end = end_offsets(settings)
    seqs: list[int] = []
    while any(readings.kafka.position(TopicPartition(settings.kafka_readings_topic, p)) < offset
              for p, offset in end.items()):
        seqs = [seq for record in readings.matching(lambda _: True) for seq in _seqs_of(record.value, meter_id)]
    assert sorted(seqs) == list(range(20))


def test_a_bridge_that_receives_nothing_more_ends_the_wait(settings: Settings) -> None:
    assert not wait_bridge_published(settings, bridge_received(settings), 10**9, settle_s=1)


def _seqs_of(value: bytes, meter_id: str) -> list[int]:
    body = json.loads(value)  # record version 2: the readings as columns
    return [seq for meter, seq in zip(body["meter_id"], body["seq"], strict=True) if meter == meter_id]
