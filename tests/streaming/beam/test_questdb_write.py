"""WriteToQuestDB against the running QuestDB: a frame QuestDB refuses while up ends in `questdb-write.dlq`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pandas as pd
from kafka import TopicPartition

from sems.settings import Settings
from sems.stores import kafka, questdb
from streaming.beam.questdb_write import write_to_questdb
from tests.support import wait_until


def test_rows_questdb_refuses_go_to_the_dlq_with_the_reason(settings: Settings) -> None:
    marker = f"refused-{uuid.uuid4().hex[:10]}"
    tail = kafka.consumer(settings, None, enable_auto_commit=False)  # type: ignore[arg-type]
    parts = [TopicPartition(settings.kafka_questdb_dlq_topic, p)
             for p in tail.partitions_for_topic(settings.kafka_questdb_dlq_topic)]
    tail.assign(parts)
    tail.seek_to_end()
    for part in parts:
        tail.position(part)
    # `kw` is a DOUBLE column: a string there is refused by QuestDB on every try, while QuestDB is up.
    frame = pd.DataFrame({"ts": [pd.Timestamp(datetime.now(UTC))], "facility_id": ["it-fac"],
                          "meter_id": [marker], "kw": ["not a number"]})
    try:
        assert write_to_questdb(settings, "readings", frame) == 0
        seen: list = []

        def dead_lettered() -> list:
            seen.extend(m for batch in tail.poll(timeout_ms=500).values() for m in batch)
            return [m for m in seen if marker.encode() in m.value]

        [entry] = wait_until(dead_lettered, timeout_s=30, what="the refused rows in questdb-write.dlq")
    finally:
        tail.close()
    value = json.loads(entry.value)
    assert entry.key == b"readings" and value["table"] == "readings"
    assert value["reason"].startswith("write refused after") and value["rows"][0]["meter_id"] == marker
    assert questdb.query(settings, f"SELECT count() n FROM readings WHERE meter_id = '{marker}'") == [{"n": 0}]
