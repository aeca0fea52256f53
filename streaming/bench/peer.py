"""The peer: what a user would write instead, a kafka-python consumer writing QuestDB with `Sender.dataframe`.

It reads the same Kafka records (the run's offset ranges) and writes them to `bench_peer_readings`;
its readings/s is the yardstick for the job's Kafka -> QuestDB rate.
"""

from __future__ import annotations

import json
import time

import pandas as pd
from kafka import TopicPartition
from questdb.ingress import Sender

from sems.settings import Settings
from sems.stores import kafka
from sems.stores.questdb import wait_wal_applied

Offsets = dict[int, int]
PEER_TABLE = "bench_peer_readings"
COLUMNS = ("facility_id", "ts_ms", "meter_id", "kw", "seq")


def end_offsets(settings: Settings) -> Offsets:
    client = kafka.consumer(settings, None, enable_auto_commit=False)  # type: ignore[arg-type]
    try:
        parts = [TopicPartition(settings.kafka_readings_topic, p)
                 for p in client.partitions_for_topic(settings.kafka_readings_topic)]
        return {tp.partition: off for tp, off in client.end_offsets(parts).items()}
    finally:
        client.close()


def run_peer(settings: Settings, start: Offsets, end: Offsets) -> tuple[int, float]:
    """Consume [start, end) of every partition and write it; returns (readings, seconds)."""
    client = kafka.consumer(settings, None, enable_auto_commit=False, max_poll_records=2000)  # type: ignore[arg-type]
    parts = [TopicPartition(settings.kafka_readings_topic, p) for p in start if end[p] > start[p]]
    client.assign(parts)
    for tp in parts:
        client.seek(tp, start[tp.partition])
    left, written, began = {tp.partition: end[tp.partition] for tp in parts}, 0, time.monotonic()
    with Sender.from_conf(settings.questdb_ilp_conf) as sender:
        while left:
            rows: dict[str, list[object]] = {name: [] for name in COLUMNS}
            for tp, messages in client.poll(timeout_ms=1000).items():
                for m in messages:
                    if m.offset < end[tp.partition]:
                        body = json.loads(m.value)  # record version 2: the readings as columns
                        for name in COLUMNS[1:]:
                            rows[name] += body[name]
                        rows["facility_id"] += [body["facility_id"]] * len(body["ts_ms"])
                    if m.offset + 1 >= end[tp.partition]:
                        left.pop(tp.partition, None)
            if rows["ts_ms"]:
                frame = pd.DataFrame(rows)
                frame["ts_ms"] = pd.to_datetime(frame["ts_ms"], unit="ms", utc=True)
                sender.dataframe(frame, table_name=PEER_TABLE, symbols=["facility_id", "meter_id"],
                                 at="ts_ms")
                sender.flush()
                written += len(frame)
    # Stopped when the rows are queryable, as the job's drain is (it waits for the WAL to be applied).
    wait_wal_applied(settings, PEER_TABLE, timeout_s=settings.questdb_timeout_s)
    client.close()
    return written, time.monotonic() - began
