"""The job's record parse: each reading traced to the MQTT message it came in, whatever the headers hold."""

from __future__ import annotations

import json

import pytest

from streaming.beam.records import KafkaRecord, ReadingBatch, parse_record

T0 = 1_764_380_040_000


def record(n: int, *headers: tuple[str, bytes]) -> KafkaRecord:
    value = {"v": 2, "facility_id": "fac-1", "meter_id": [f"m{i}" for i in range(n)],
             "ts_ms": [T0 + i for i in range(n)], "kw": [1.0] * n, "kwh": [None] * n, "seq": [None] * n}
    return KafkaRecord("sensor-readings", 0, 0, b"fac-1", json.dumps(value).encode(), headers)


def reading_traces(parsed: object) -> list[str]:
    assert isinstance(parsed, ReadingBatch)
    spans = parsed.trace_spans or ((parsed.trace_id, len(parsed.readings)),)
    return [trace for trace, count in spans for _ in range(count)]


def test_a_merged_record_traces_each_reading_to_its_own_message() -> None:
    parsed = parse_record(record(4, ("trace_id", b"a"), ("trace_id", b"b"), ("trace_id", b"c"),
                                 ("trace_readings", b"1,2,1"), ("received_at_ms", b"1")))
    assert reading_traces(parsed) == ["a", "b", "b", "c"]


def test_a_record_of_one_message_is_traced_to_it() -> None:
    assert reading_traces(parse_record(record(3, ("trace_id", b"a")))) == ["a", "a", "a"]
    assert reading_traces(parse_record(record(2))) == ["-", "-"]


@pytest.mark.parametrize("counts", [None, b"1,1", b"3,x", b"1,1,1", b"-1,4"],
                         ids=["missing", "short sum", "not numbers", "too many", "negative"])
def test_unusable_counts_trace_the_record_to_its_first_message(counts: bytes | None) -> None:
    headers = [("trace_id", b"a"), ("trace_id", b"b")] + ([("trace_readings", counts)] if counts else [])
    assert reading_traces(parse_record(record(3, *headers))) == ["a", "a", "a"]
