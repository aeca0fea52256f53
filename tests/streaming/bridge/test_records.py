"""Kafka record formats: the readings record the Beam job reads and the DLQ record, exactly as documented."""

from __future__ import annotations

import base64
import json

from sems.readings import Reading, ReadingColumns
from streaming.bridge.acks import Ticket
from streaming.bridge.coalescer import Coalescer
from streaming.bridge.records import DLQ_PAYLOAD_MAX_BYTES, KafkaRecord, dlq_record, readings_record, too_large_record
from streaming.contract import Rejection

READINGS = [Reading("fac-001", "fac-001-m01", 1764380000000, 12.5, 1234.5, 17), Reading("fac-001", "m2", 1, -1.0)]


def columns(facility_id: str, readings: list[Reading]) -> ReadingColumns:
    return ReadingColumns.of(facility_id, readings)


def test_readings_record_has_the_documented_key_value_and_headers() -> None:
    record = readings_record("sensor-readings", columns("fac-001", READINGS), ["a1", "b2"], 1764380000123, [1, 1])
    assert (record.topic, record.key) == ("sensor-readings", b"fac-001")
    assert json.loads(record.value) == {
        "v": 2,
        "facility_id": "fac-001",
        "meter_id": ["fac-001-m01", "m2"],
        "ts_ms": [1764380000000, 1],
        "kw": [12.5, -1.0],
        "kwh": [1234.5, None],
        "seq": [17, None],
    }
    assert record.headers == [
        ("trace_id", b"a1"), ("trace_id", b"b2"), ("trace_readings", b"1,1"), ("received_at_ms", b"1764380000123")
    ]


def test_a_record_of_one_message_needs_no_reading_counts() -> None:
    record = readings_record("sensor-readings", columns("fac-001", READINGS), ["a1"], 5, [2])
    assert record.headers == [("trace_id", b"a1"), ("received_at_ms", b"5")]


def test_dlq_record_keeps_reason_topic_and_original_bytes() -> None:
    payload = b"\x00not json\xff"
    rejection = Rejection("invalid_json", "not UTF-8", "sems/v1/readings/fac-001/m1", payload, "fac-001")
    record = dlq_record("sensor-readings.dlq", rejection, "trace-9", 42)
    value = json.loads(record.value)
    assert value == {
        "reason": "invalid_json: not UTF-8",
        "topic": "sems/v1/readings/fac-001/m1",
        "payload_b64": base64.b64encode(payload).decode(),
        "payload_bytes": len(payload),
        "payload_truncated": False,
        "received_at_ms": 42,
    }
    assert (record.key, record.headers) == (b"fac-001", [("trace_id", b"trace-9")])
    unknown = dlq_record("dlq", Rejection("unknown_topic", "x", "t", b"", None), "t", 1)
    assert unknown.key is None


def test_dlq_record_of_an_oversize_payload_keeps_its_start_and_size() -> None:
    payload = b"x" * (DLQ_PAYLOAD_MAX_BYTES + 10)
    record = dlq_record("dlq", Rejection("too_large", "big", "t", payload, "fac-001"), "t", 1)
    value = json.loads(record.value)
    assert value["payload_truncated"] is True and value["payload_bytes"] == len(payload)
    assert base64.b64decode(value["payload_b64"]) == payload[:DLQ_PAYLOAD_MAX_BYTES]


def test_a_record_too_large_for_kafka_becomes_a_dlq_entry_with_its_trace() -> None:
    traces = [("trace_id", b"t1"), ("trace_id", b"t2"), ("trace_readings", b"1,4")]
    big = KafkaRecord("sensor-readings", b"fac-001", b"y" * 2_000_000, [*traces, ("received_at_ms", b"7")])
    entry = too_large_record("sensor-readings.dlq", big, "2000000 bytes")
    value = json.loads(entry.value)
    assert entry.topic == "sensor-readings.dlq" and entry.headers == traces
    assert value["reason"] == "record_too_large: 2000000 bytes" and value["received_at_ms"] == 7
    assert value["topic"] == "sensor-readings" and value["payload_bytes"] == 2_000_000


def test_coalescer_merges_per_facility_and_hands_over_a_full_batch_at_once() -> None:
    coalescer = Coalescer(max_readings=3)
    tickets = [Ticket(mid, 1, 0, 100 - mid, f"t{mid}") for mid in range(4)]
    assert coalescer.add(tickets[0], columns("fac-001", READINGS[:1])) is None
    assert coalescer.add(tickets[1], columns("fac-002", READINGS[:1])) is None
    full = coalescer.add(tickets[2], columns("fac-001", READINGS))
    assert full is not None and full.facility_id == "fac-001" and len(full.readings) == 3
    assert [r.meter_id for r in full.readings] == ["fac-001-m01", "fac-001-m01", "m2"]
    assert (full.trace_ids, full.counts, full.received_at_ms) == (["t0", "t2"], [1, 2], 98)
    coalescer.add(tickets[3], columns("fac-002", READINGS[:1]))
    [rest] = coalescer.drain()
    assert (rest.facility_id, rest.trace_ids) == ("fac-002", ["t1", "t3"])
    assert not coalescer
