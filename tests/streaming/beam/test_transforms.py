"""ParseReadings and FacilityLoad1m on Beam's TestPipeline: parsing, DLQ routing, 1-minute totals."""

from __future__ import annotations

import json
from collections.abc import Callable

import apache_beam as beam
import pytest
from apache_beam.coders.coders import PickleCoder
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from sems.readings import Reading, ReadingColumns
from streaming.beam.loads import FacilityMinute, MeterPartial, MeterPartials, merge_partials
from streaming.beam.records import KafkaRecord, ReadingBatch
from streaming.beam.transforms import DLQ_TAG, FacilityLoad1m, ParseReadings

T0 = 1_764_380_040_000  # a minute boundary (epoch ms)


def record(value: object, key: bytes | None = b"fac-1", offset: int = 0) -> KafkaRecord:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return KafkaRecord("sensor-readings", 3, offset, key, raw, (("trace_id", b"trace-1"),))


def body(*readings: dict, facility_id: str = "fac-1") -> dict:
    return {"v": 1, "facility_id": facility_id, "readings": list(readings)}


def columns(*readings: dict, facility_id: str = "fac-1") -> dict:
    """Record version 2, as the bridge writes it."""
    names = ("meter_id", "ts_ms", "kw", "kwh", "seq")
    return {"v": 2, "facility_id": facility_id, **{n: [r.get(n) for r in readings] for n in names}}


def batch(facility_id: str, *readings: Reading, trace_id: str = "-") -> ReadingBatch:
    return ReadingBatch(facility_id, ReadingColumns.of(facility_id, readings), trace_id)


GOOD = (
    {"meter_id": "m1", "ts_ms": T0, "kw": 12.5, "kwh": 100.0, "seq": 7},
    {"meter_id": "m2", "ts_ms": T0 + 1, "kw": 3, "kwh": None, "seq": None},
)


@pytest.mark.parametrize("encode", [body, columns], ids=["version 1", "version 2"])
def test_parse_routes_good_records_to_batches_and_bad_ones_to_the_dlq(encode: Callable[..., dict]) -> None:
    unequal = {**columns(*GOOD), "kw": [1.0]}
    bad = [
        record(b"not json", offset=1),
        record(encode({"meter_id": "m1", "ts_ms": T0, "kw": "NaN"}), offset=2),
        record(encode({"meter_id": "m1", "ts_ms": T0, "kw": 1.0}), key=b"other-facility", offset=3),
        record({"v": 3, "facility_id": "fac-1", "readings": []}, offset=4),
        record(unequal, offset=5),
        record(encode({"meter_id": "", "ts_ms": T0, "kw": 1.0}), offset=6),
        record(encode({"meter_id": "m1", "ts_ms": 0, "kw": 1.0}), offset=7),
    ]
    with test_pipeline.TestPipeline() as p:
        parsed = p | beam.Create([record(encode(*GOOD)), *bad]) | ParseReadings()
        expected = batch(
            "fac-1", Reading("fac-1", "m1", T0, 12.5, 100.0, 7), Reading("fac-1", "m2", T0 + 1, 3.0, None, None),
            trace_id="trace-1",
        )
        assert_that(parsed.readings, equal_to([expected]), label="Batches")
        reasons = parsed[DLQ_TAG] | beam.Map(lambda e: (e.record.offset, e.reason.split(" ")[0]))
        expected_reasons = [(1, "value"), (2, "readings[0].kw"), (3, "key"), (4, "unsupported"), (5, "columns"),
                            (6, "readings[0].meter_id"), (7, "readings[0].ts_ms")]
        assert_that(reasons, equal_to(expected_reasons), label="DlqReasons")


def test_facility_load_sums_meter_averages_per_event_time_minute_out_of_order() -> None:
    # Two batches, readings out of order and spanning two minutes; m1 reports twice in the first minute.
    first = batch(
        "fac-1",
        Reading("fac-1", "m1", T0 + 45_000, 30.0),
        Reading("fac-1", "m2", T0 + 61_000, 5.0),
        Reading("fac-1", "m1", T0 + 15_000, 10.0),
    )
    second = batch("fac-1", Reading("fac-1", "m2", T0 + 30_000, 4.0), Reading("fac-1", "m1", T0 + 62_000, 7.0))
    other = batch("fac-2", Reading("fac-2", "m9", T0 + 1_000, 2.0))
    with test_pipeline.TestPipeline() as p:
        loads = p | beam.Create([first, other, second]) | FacilityLoad1m()
        assert_that(
            loads,
            equal_to(
                [
                    # minute 0: m1 avg (10+30)/2 = 20, m2 avg 4 -> 24 kW; min 10+4, max 30+4
                    FacilityMinute("fac-1", T0, 24.0, 14.0, 34.0, 24.0 / 60, 3, 2),
                    FacilityMinute("fac-1", T0 + 60_000, 12.0, 12.0, 12.0, 12.0 / 60, 2, 2),
                    FacilityMinute("fac-2", T0, 2.0, 2.0, 2.0, 2.0 / 60, 1, 1),
                ]
            ),
        )


@pytest.mark.parametrize(
    "reading",
    [
        {"ts_ms": T0, "kw": 1.0},
        {"meter_id": "m1", "ts_ms": -5, "kw": 1.0},
        {"meter_id": "m1", "ts_ms": True, "kw": 1.0},
        {"meter_id": "m1", "ts_ms": T0, "kw": 1.0, "seq": 1.5},
        {"meter_id": "m1", "ts_ms": T0, "kw": 1.0, "kwh": "x"},
    ],
)
def test_parse_refuses_each_malformed_reading(reading: dict) -> None:
    from streaming.beam.records import DlqEntry, parse_record

    parsed = parse_record(record(body(reading)))
    assert isinstance(parsed, DlqEntry)
    assert parsed.reason.startswith("readings[0].")


def test_meter_partials_cross_the_runner_column_wise_and_intact() -> None:
    partials = MeterPartials({"m-1": MeterPartial(6.0, 2, 2.0, 4.0), "m-2": MeterPartial.of(1.5)})
    coder = PickleCoder()
    decoded = coder.decode(coder.encode(("fac-1", partials)))
    assert decoded == ("fac-1", partials) and isinstance(decoded[1], MeterPartials)
    assert list(decoded[1]) == ["m-1", "m-2"]  # meter order kept
    assert merge_partials([decoded[1], partials])["m-1"] == MeterPartial(12.0, 4, 2.0, 4.0)
