"""The running bridge (whole test stack up): MQTT in, documented Kafka records out, bad input to the DLQ."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

import httpx

from sems.settings import Settings
from streaming.beam.records import record_rows
from tests.support import TopicTail, header, wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


def bridge_health(settings: Settings) -> httpx.Response:
    return httpx.get(f"http://{settings.host}:{settings.bridge_port}/healthz", timeout=5)


def test_a_device_reading_becomes_a_kafka_record_with_its_trace_id(
    settings: Settings, tail: Callable[[str], TopicTail], device: Callable[..., None], facility_id: str
) -> None:
    readings = tail(settings.kafka_readings_topic)
    trace_id, meter_id, ts = uuid.uuid4().hex, f"{facility_id}-test-{uuid.uuid4().hex[:6]}", now_ms()
    topic = f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{meter_id}"
    device(topic, json.dumps({"ts": ts, "kw": 42.5, "kwh": 1000.25, "seq": 7}).encode(), trace_id=trace_id)

    [record] = wait_until(
        lambda: readings.matching(lambda r: trace_id.encode() in header(r, "trace_id")),
        timeout_s=30,
        what="the reading in Kafka",
    )
    assert record.key == facility_id.encode()
    body = json.loads(record.value)
    assert body["v"] == 2 and body["facility_id"] == facility_id
    assert {"meter_id": meter_id, "ts_ms": ts, "kw": 42.5, "kwh": 1000.25, "seq": 7} in record_rows(record.value)
    [received_at] = header(record, "received_at_ms")
    assert ts - 5_000 <= int(received_at) <= now_ms()


def test_a_gateway_batch_is_one_record_and_its_bad_reading_goes_to_the_dlq(
    settings: Settings, tail: Callable[[str], TopicTail], device: Callable[..., None], facility_id: str
) -> None:
    readings, dlq = tail(settings.kafka_readings_topic), tail(settings.kafka_readings_dlq_topic)
    meter_id, ts = f"{facility_id}-gw-{uuid.uuid4().hex[:6]}", now_ms()
    batch = {
        "readings": [
            {"meter_id": meter_id, "ts": ts, "kw": 1.5, "seq": 1},
            {"meter_id": meter_id, "ts": ts + 15_000, "kw": 1e9, "seq": 2},
            {
                "meter_id": meter_id,
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts / 1000)),
                "kw": 2,
                "seq": 3,
            },
        ]
    }
    device(f"{settings.mqtt_topic_prefix}/batches/{facility_id}", json.dumps(batch).encode())

    [record] = wait_until(
        lambda: readings.matching(lambda r: meter_id.encode() in r.value), timeout_s=30, what="the batch in Kafka"
    )
    assert [(r["seq"], r["kw"]) for r in record_rows(record.value)] == [(1, 1.5), (3, 2.0)]
    [generated_trace] = header(record, "trace_id")
    assert len(generated_trace) == 32  # none supplied: the bridge made one

    [rejected] = wait_until(
        lambda: dlq.matching(lambda r: meter_id.encode() in base64.b64decode(json.loads(r.value)["payload_b64"])),
        timeout_s=30,
        what="the bad reading in the DLQ",
    )
    value = json.loads(rejected.value)
    assert value["reason"].startswith("out_of_bounds: readings[1].kw: 1000000000.0 outside")
    assert json.loads(base64.b64decode(value["payload_b64"]))["readings"][0]["seq"] == 2
    assert header(rejected, "trace_id") == [generated_trace]


def test_a_malformed_payload_lands_in_the_dlq_and_the_bridge_keeps_working(
    settings: Settings, tail: Callable[[str], TopicTail], device: Callable[..., None], facility_id: str
) -> None:
    readings, dlq = tail(settings.kafka_readings_topic), tail(settings.kafka_readings_dlq_topic)
    trace_id, payload = uuid.uuid4().hex, b'{"ts": 17643800, "kw": oops \xff'
    topic = f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{facility_id}-m01"
    device(topic, payload, trace_id=trace_id)

    [record] = wait_until(
        lambda: dlq.matching(lambda r: trace_id.encode() in header(r, "trace_id")),
        timeout_s=30,
        what="the malformed payload in the DLQ",
    )
    value = json.loads(record.value)
    assert value["reason"].startswith("invalid_json: not UTF-8")
    assert base64.b64decode(value["payload_b64"]) == payload
    assert value["topic"] == topic and record.key == facility_id.encode()
    assert abs(value["received_at_ms"] - now_ms()) < 60_000

    assert bridge_health(settings).status_code == 200
    after = uuid.uuid4().hex
    device(topic, json.dumps({"ts": now_ms(), "kw": 3}).encode(), trace_id=after)
    wait_until(
        lambda: readings.matching(lambda r: after.encode() in header(r, "trace_id")),
        timeout_s=30,
        what="a valid reading after the malformed one",
    )
    metrics = httpx.get(f"http://{settings.host}:{settings.bridge_port}/metrics", timeout=5).text
    assert 'sems_bridge_invalid_total{reason="invalid_json"}' in metrics


def test_bridge_reports_alive_and_ready_with_its_dependencies(settings: Settings) -> None:
    response = bridge_health(settings)
    assert response.status_code == 200
    assert response.json()["reason"].startswith("alive; spool 0.0% full, breaker closed")
    ready = httpx.get(f"http://{settings.host}:{settings.bridge_port}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "reason": "mqtt connected, kafka reachable"}
