"""The walking skeleton end to end: a reading published over MQTT is queryable in QuestDB, trace id and all."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from sems.mqtt import readings_topic
from sems.settings import Settings
from sems.stores.questdb import query
from tests.support import wait_until


def test_a_reading_published_over_mqtt_lands_in_readings_and_the_facility_minute(
    settings: Settings, device: Callable[..., None], facility_id: str
) -> None:
    meter_id = f"e2e-{uuid.uuid4().hex[:12]}"
    trace_id = uuid.uuid4().hex
    ts_ms = int(time.time() * 1000)
    payload = json.dumps({"ts": ts_ms, "kw": 12.25, "kwh": 1000.5, "seq": 1}).encode()

    device(readings_topic(settings, facility_id, meter_id), payload, trace_id=trace_id)

    sql = f"SELECT facility_id, kw, kwh, seq FROM readings WHERE meter_id = '{meter_id}'"
    rows = wait_until(
        lambda: query(settings, sql),
        timeout_s=90, what="the reading in QuestDB",
    )
    assert rows == [{"facility_id": facility_id, "kw": 12.25, "kwh": 1000.5, "seq": 1}]
    lineage = wait_until(
        lambda: query(settings, f"SELECT facility_id, trace_id, readings, ts, last_ts FROM reading_lineage "
                                f"WHERE meter_id = '{meter_id}'"),
        timeout_s=30, what="the message's lineage",
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + f".{ts_ms % 1000:03d}000Z"
    assert lineage == [{"facility_id": facility_id, "trace_id": trace_id, "readings": 1, "ts": stamp, "last_ts": stamp}]
    minute = time.strftime("%Y-%m-%dT%H:%M:00.000000Z", time.gmtime(ts_ms // 1000))
    totals = wait_until(
        lambda: query(settings, f"SELECT meters FROM facility_load_1m WHERE facility_id = '{facility_id}' "
                                f"AND ts = '{minute}'"),
        timeout_s=90, what="the facility minute",
    )
    assert totals[0]["meters"] >= 1


def test_a_malformed_reading_does_not_stop_the_next_good_one(
    settings: Settings, device: Callable[..., None], facility_id: str
) -> None:
    meter_id = f"e2e-{uuid.uuid4().hex[:12]}"
    topic = readings_topic(settings, facility_id, meter_id)
    device(topic, b"{not json")
    device(topic, json.dumps({"ts": int(time.time() * 1000), "kw": "NaN"}).encode())
    device(topic, json.dumps({"ts": int(time.time() * 1000), "kw": 3.5, "seq": 2}).encode())
    rows = wait_until(
        lambda: query(settings, f"SELECT kw, seq FROM readings WHERE meter_id = '{meter_id}'"),
        timeout_s=90, what="the good reading after two bad ones",
    )
    assert rows == [{"kw": 3.5, "seq": 2}]


def test_readings_merged_into_one_record_keep_the_trace_id_of_their_own_message(
    settings: Settings, device: Callable[..., None], facility_id: str
) -> None:
    # Single readings of one facility arriving together are merged into one Kafka record by the bridge;
    # the record's lineage row still names every message, with the readings each brought.
    meter_ids = [f"e2e-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    traces = [uuid.uuid4().hex for _ in meter_ids]
    now_ms = int(time.time() * 1000)
    for meter_id, trace_id in zip(meter_ids, traces, strict=True):
        payload = json.dumps({"ts": now_ms, "kw": 1.0, "seq": 1}).encode()
        device(readings_topic(settings, facility_id, meter_id), payload, trace_id=trace_id)
    sql = (f"SELECT trace_id, trace_ids, trace_readings, readings FROM reading_lineage "
           f"WHERE facility_id = '{facility_id}' AND ts >= {now_ms * 1000}")

    def messages() -> dict[str, int] | None:
        found: dict[str, int] = {}
        for row in query(settings, sql):
            ids = row["trace_ids"].split(",") if row["trace_ids"] else [row["trace_id"]]
            counts = [int(n) for n in row["trace_readings"].split(",")] if row["trace_readings"] else [row["readings"]]
            assert ids[0] == row["trace_id"] and sum(counts) == row["readings"], row
            found.update(zip(ids, counts, strict=True))
        return found if set(traces) <= set(found) else None

    assert {trace: count for trace, count in wait_until(messages, timeout_s=90, what="the five messages' lineage")
            .items() if trace in traces} == dict.fromkeys(traces, 1)
