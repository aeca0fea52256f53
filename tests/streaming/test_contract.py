"""The MQTT contract: both payload forms, both timestamp forms, and a precise reason for each kind of bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems.readings import Reading
from streaming.contract import Contract, ParsedMessage
from streaming.contract_fast import fast_parse

NOW_MS = 1_764_380_000_000  # 2025-11-29T01:33:20Z
CONTRACT = Contract(
    prefix="sems/v1",
    kw_min=-1e4,
    kw_max=1e5,
    max_future_ms=3_600_000,
    max_age_ms=30 * 86_400_000,
    max_payload_bytes=4096,
    max_batch_readings=3,
)
SINGLE = "sems/v1/readings/fac-001/fac-001-m01"
BATCH = "sems/v1/batches/fac-001"


def parse(topic: str, body: object) -> ParsedMessage:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return CONTRACT.parse(topic, payload, now_ms=NOW_MS)


def readings(parsed: ParsedMessage) -> list[Reading]:
    return list(parsed.readings or [])


def only_reason(parsed: ParsedMessage) -> str:
    assert parsed.readings is None
    assert len(parsed.rejections) == 1
    return parsed.rejections[0].reason


def test_single_reading_with_epoch_ms_and_all_fields() -> None:
    parsed = parse(SINGLE, {"ts": NOW_MS, "kw": 12.5, "kwh": 1234.5, "seq": 17})
    assert readings(parsed) == [Reading("fac-001", "fac-001-m01", NOW_MS, 12.5, 1234.5, 17)]
    assert parsed.rejections == []
    assert parsed.facility_id == "fac-001"


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        ("2025-11-29T01:33:20Z", NOW_MS),
        ("2025-11-29T01:33:20.123Z", NOW_MS + 123),
        ("2025-11-29T02:33:20.1234567+01:00", NOW_MS + 123),
        ("2025-11-28t20:33:20-05:00", NOW_MS),
        ("2025-11-29 01:33:20z", NOW_MS),
    ],
)
def test_rfc3339_timestamps_become_epoch_ms(ts: str, expected_ms: int) -> None:
    parsed = parse(SINGLE, {"ts": ts, "kw": 1})
    assert [r.ts_ms for r in readings(parsed)] == [expected_ms]


def test_optional_fields_may_be_absent_or_null() -> None:
    parsed = parse(SINGLE, {"ts": NOW_MS, "kw": -3, "kwh": None})
    assert readings(parsed) == [Reading("fac-001", "fac-001-m01", NOW_MS, -3.0, None, None)]


def test_gateway_batch_keeps_valid_readings_and_rejects_each_bad_one() -> None:
    good = {"meter_id": "fac-001-m01", "ts": NOW_MS, "kw": 5.0, "seq": 1}
    bad = {"meter_id": "fac-001-m02", "ts": NOW_MS, "kw": "high"}
    parsed = parse(BATCH, {"readings": [good, bad, {**good, "ts": "2025-11-29T01:33:21Z", "seq": 2}]})
    assert [(r.meter_id, r.ts_ms, r.seq) for r in readings(parsed)] == [
        ("fac-001-m01", NOW_MS, 1),
        ("fac-001-m01", NOW_MS + 1000, 2),
    ]
    [rejection] = parsed.rejections
    assert rejection.reason == "wrong_type: readings[1].kw: str 'high', expected a number"
    assert rejection.facility_id == "fac-001" and rejection.topic == BATCH
    # The DLQ entry is the bad reading alone, as a batch that can be republished once fixed.
    assert json.loads(rejection.payload) == {"readings": [bad]}


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("sems/v1/other/fac-001", {}, "unknown_topic: 'sems/v1/other/fac-001' is neither"),
        ("sems/v1/readings/fac-001", {}, "unknown_topic:"),
        ("elsewhere/sems/v1/batches/fac-001", {}, "unknown_topic:"),
        ("sems/v1/readings/fac 1/m1", {}, "bad_identifier: facility_id 'fac 1' in topic must match"),
        ("sems/v1/readings/fac-001/-m1", {}, "bad_identifier: meter_id '-m1' in topic"),
        (SINGLE, b"{not json", "invalid_json: Expecting property name"),
        (SINGLE, b"\xff\xfe", "invalid_json: not UTF-8"),
        (SINGLE, b"[" * 100_000 + b"]" * 100_000, "payload_too_large: 200000 bytes, limit 4096"),
        (SINGLE, [1, 2], "not_an_object: payload is a JSON list, expected an object"),
        (SINGLE, {"kw": 1}, "missing_field: ts: required"),
        (SINGLE, {"ts": NOW_MS}, "missing_field: kw: required"),
        (SINGLE, {"ts": NOW_MS, "kw": True}, "wrong_type: kw: bool True, expected a number"),
        (SINGLE, {"ts": NOW_MS, "kw": None}, "wrong_type: kw: null None, expected a number"),
        (SINGLE, b'{"ts": 1764380000000, "kw": NaN}', "not_finite: kw: nan is not a finite number"),
        (SINGLE, b'{"ts": 1764380000000, "kw": 1, "kwh": Infinity}', "not_finite: kwh: inf is not a finite number"),
        (SINGLE, {"ts": NOW_MS, "kw": 1e5 + 1}, "out_of_bounds: kw: 100001.0 outside [-10000.0, 100000.0]"),
        (SINGLE, {"ts": NOW_MS, "kw": -10_001}, "out_of_bounds: kw: -10001.0 outside"),
        (SINGLE, {"ts": NOW_MS, "kw": 1, "kwh": -1}, "out_of_bounds: kwh: -1.0 is negative"),
        (SINGLE, {"ts": NOW_MS, "kw": 1, "seq": 1.5}, "wrong_type: seq: float 1.5, expected an integer"),
        (SINGLE, {"ts": NOW_MS, "kw": 1, "seq": -1}, "out_of_bounds: seq: -1 outside"),
        (SINGLE, {"ts": NOW_MS, "kw": 1, "seq": 2**63}, "out_of_bounds: seq: 9223372036854775808 outside"),
        (SINGLE, {"ts": "yesterday", "kw": 1}, "ts_invalid: ts: 'yesterday' is not RFC 3339 with an offset"),
        (SINGLE, {"ts": "2025-11-29T01:33:20", "kw": 1}, "ts_invalid: ts: '2025-11-29T01:33:20' is not RFC 3339"),
        (SINGLE, {"ts": "2025-13-29T01:33:20Z", "kw": 1}, "ts_invalid: ts: '2025-13-29T01:33:20Z': month must be"),
        (SINGLE, {"ts": [NOW_MS], "kw": 1}, "wrong_type: ts: list, expected an RFC 3339 string or integer epoch"),
        (SINGLE, {"ts": NOW_MS + 0.5, "kw": 1}, "wrong_type: ts: 1764380000000.5: epoch milliseconds must be"),
        (SINGLE, {"ts": NOW_MS + 3_600_001, "kw": 1}, "ts_in_future: ts: 1764383600001 is more than 3600 s ahead"),
        (SINGLE, {"ts": NOW_MS // 1000, "kw": 1}, "ts_too_old: ts: 1764380000 is more than 2592000 s old (epoch sec"),
        (SINGLE, {"ts": "1999-01-01T00:00:00Z", "kw": 1}, "ts_too_old: ts: '1999-01-01T00:00:00Z' is more than"),
        (SINGLE, {"facility_id": "fac-002", "ts": NOW_MS, "kw": 1}, "facility_mismatch: payload facility_id 'fac-002'"),
        (SINGLE, {"meter_id": "fac-001-m02", "ts": NOW_MS, "kw": 1}, "meter_mismatch: payload meter_id 'fac-001-m02'"),
        (BATCH, {"facility_id": "fac-009", "readings": []}, "facility_mismatch: payload facility_id 'fac-009'"),
        (BATCH, {}, "missing_field: readings: required"),
        (BATCH, {"readings": {"meter_id": "m"}}, "wrong_type: readings: dict, expected a list"),
        (BATCH, {"readings": []}, "empty_batch: readings: the list is empty"),
        (BATCH, {"readings": [{}] * 4}, "batch_too_large: readings: 4 readings, limit 3"),
        (BATCH, {"readings": [7]}, "not_an_object: readings[0].reading: a JSON int, expected an object"),
        (BATCH, {"readings": [{"ts": NOW_MS, "kw": 1}]}, "missing_field: readings[0].meter_id: required"),
        (BATCH, {"readings": [{"meter_id": 5, "ts": NOW_MS, "kw": 1}]}, "bad_identifier: readings[0].meter_id: 5"),
        (
            BATCH,
            {"readings": [{"meter_id": "m1", "facility_id": "fac-002", "ts": NOW_MS, "kw": 1}]},
            "facility_mismatch: readings[0].facility_id: 'fac-002' but topic says 'fac-001'",
        ),
    ],
)
def test_invalid_input_is_rejected_with_a_precise_reason(topic: str, body: object, reason: str) -> None:
    assert only_reason(parse(topic, body)).startswith(reason)


def test_whole_message_rejection_keeps_the_original_bytes_and_known_facility() -> None:
    payload = b'{"ts": "soon", "kw": 1}'
    [rejection] = CONTRACT.parse(SINGLE, payload, now_ms=NOW_MS).rejections
    assert (rejection.payload, rejection.facility_id, rejection.code) == (payload, "fac-001", "ts_invalid")
    [unknown] = CONTRACT.parse("sems/v1/nope", payload, now_ms=NOW_MS).rejections
    assert unknown.facility_id is None


def test_hostile_nesting_is_a_reason_not_a_crash() -> None:
    deep = b"[" * 3000 + b"]" * 3000
    wide = Contract(**{**CONTRACT.__dict__, "max_payload_bytes": 10**6})
    assert wide.parse(SINGLE, deep, now_ms=NOW_MS).rejections[0].code in {"invalid_json", "not_an_object"}
    nested_meter = b'{"readings": [{"meter_id": ' + b"[" * 900 + b"]" * 900 + b"}]}"
    [rejection] = wide.parse(BATCH, nested_meter, now_ms=NOW_MS).rejections
    assert rejection.code == "bad_identifier" and len(rejection.reason) < 300


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
reading_like = st.fixed_dictionaries(
    {},
    optional={
        "meter_id": st.text(max_size=8) | json_values,
        "ts": st.integers() | json_values,
        "kw": json_values,
        "kwh": json_values,
        "seq": json_values,
    },
)
topics = st.sampled_from([SINGLE, BATCH, "sems/v1/readings/x", "other"]) | st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(topic=topics, payload=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    assert_readings_or_reasons(CONTRACT.parse(topic, payload, now_ms=NOW_MS))


@settings(max_examples=300, deadline=None)
@given(items=st.lists(reading_like | json_values, max_size=5))
def test_arbitrary_batches_account_for_every_reading(items: list[object]) -> None:
    payload = json.dumps({"readings": items}).encode()
    parsed = CONTRACT.parse(BATCH, payload, now_ms=NOW_MS)
    assert_readings_or_reasons(parsed)
    if len(payload) > CONTRACT.max_payload_bytes:
        # Too large to read at all: the whole message is one rejection, with its bytes.
        assert [r.code for r in parsed.rejections] == ["payload_too_large"] and not parsed.readings
    elif 1 <= len(items) <= CONTRACT.max_batch_readings:
        # Per-reading validation: nothing is dropped silently.
        assert parsed.count + len(parsed.rejections) == len(items)


def assert_readings_or_reasons(parsed: ParsedMessage) -> None:
    assert parsed.readings or parsed.rejections
    for rejection in parsed.rejections:
        assert rejection.code and rejection.detail and len(rejection.reason) < 600
        assert isinstance(rejection.payload, bytes)
    for reading in readings(parsed):
        assert CONTRACT.kw_min <= reading.kw <= CONTRACT.kw_max
        assert abs(reading.ts_ms - NOW_MS) <= CONTRACT.max_age_ms


plausible = st.fixed_dictionaries(
    {
        "ts": st.integers(NOW_MS - CONTRACT.max_age_ms - 5, NOW_MS + CONTRACT.max_future_ms + 5)
        | st.sampled_from(["2025-11-29T01:33:20Z", "2025-11-29T01:33:20", "1764380000000", 1.5e12]),
        "kw": st.floats(-2e4, 2e5, allow_nan=False) | st.integers(-20_000, 200_000) | st.sampled_from([True, None]),
    },
    optional={
        "meter_id": st.sampled_from(["fac-001-m01", "m2", "bad id", "m\n", "", None]),
        "facility_id": st.sampled_from(["fac-001", "fac-002", None]),
        "kwh": st.none() | st.floats(-1, 1e308) | st.just(1e309),
        "seq": st.none() | st.integers(-1, 2**64) | st.just(False),
    },
)


@settings(max_examples=600, deadline=None)
@given(topic=st.sampled_from([SINGLE, BATCH]), items=st.lists(plausible | reading_like, max_size=4),
       single=plausible)
def test_fast_path_accepts_only_what_the_slow_path_accepts(topic: str, items: list[object], single: object) -> None:
    """The msgspec path may only say yes where the reading-by-reading path says yes to every reading."""
    payload = json.dumps({"readings": items} if topic == BATCH else single).encode()
    fast = fast_parse(CONTRACT, topic, payload, NOW_MS)
    slow = CONTRACT.parse_slowly(topic, payload, now_ms=NOW_MS)
    if fast is not None:
        facility_id, columns, batch = fast
        assert slow.rejections == [] and (facility_id, batch) == (slow.facility_id, slow.batch)
        assert list(columns) == readings(slow)


def test_meter_ids_seen_valid_do_not_let_a_bad_one_through() -> None:
    good = [{"meter_id": m, "ts": NOW_MS, "kw": 1.0} for m in ("fac-001-m01", "fac-001-m02")]
    assert fast_parse(CONTRACT, BATCH, json.dumps({"readings": good}).encode(), NOW_MS) is not None
    with_bad = [*good[:1], {"meter_id": "fac-001-m01\n", "ts": NOW_MS, "kw": 1.0}]
    assert fast_parse(CONTRACT, BATCH, json.dumps({"readings": with_bad}).encode(), NOW_MS) is None
    assert "bad_identifier" in parse(BATCH, {"readings": with_bad}).rejections[0].reason
