"""A run's meter-minute deltas: exact sums of what it wrote, and inexact wherever a reading could have replaced one."""

from __future__ import annotations

import pandas as pd

from streaming.beam.loads import MeterPartial
from streaming.beam.meter_deltas import (
    MinuteDelta,
    StoredMeter,
    chunk_deltas,
    merge_chunk_deltas,
    merge_minute_deltas,
    minute_deltas,
    updated_meters,
)

M0 = 1_700_000_040_000  # a minute boundary (epoch ms)


def frame(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    """A `readings` frame as the job sends it: categorical ids, UTC timestamps."""
    facility, meter, ts_ms, kw = zip(*rows, strict=True)
    return pd.DataFrame({
        "ts": pd.to_datetime(list(ts_ms), unit="ms", utc=True),
        "facility_id": pd.Categorical(facility), "meter_id": pd.Categorical(meter), "kw": list(kw),
    })


def deltas_of(*chunks: list[tuple[str, str, int, float]]) -> dict[tuple[str, int], MinuteDelta]:
    merged = merge_chunk_deltas([chunk_deltas(frame(rows)) for rows in chunks])
    return {(f, d.minute_ms): d for f, d in minute_deltas(merged)}


def test_a_chunk_sums_each_meter_minute_and_spans_its_timestamps() -> None:
    deltas = deltas_of([("f1", "a", M0 + 1_000, 2.0), ("f1", "a", M0 + 16_000, 4.0), ("f1", "b", M0 + 5_000, 1.0),
                        ("f1", "a", M0 + 61_000, 8.0), ("f2", "a", M0 + 3_000, 3.0)])
    assert set(deltas) == {("f1", M0), ("f1", M0 + 60_000), ("f2", M0)}
    first = deltas[("f1", M0)]
    a = first.meters["a"]
    assert first.partial(a) == MeterPartial(6.0, 2, 2.0, 4.0)
    assert (first.first_ts_ms[a], first.last_ts_ms[a]) == (M0 + 1_000, M0 + 16_000)
    assert first.exact and deltas[("f1", M0 + 60_000)].partial(0) == MeterPartial(8.0, 1, 8.0, 8.0)


def test_a_repeated_key_within_a_chunk_makes_its_minute_inexact() -> None:
    deltas = deltas_of([("f1", "a", M0 + 1_000, 2.0), ("f1", "a", M0 + 1_000, 2.5), ("f1", "b", M0 + 61_000, 1.0)])
    assert not deltas[("f1", M0)].exact
    assert deltas[("f1", M0 + 60_000)].exact  # only the minute with the repeat


def test_chunks_merge_exactly_unless_one_meters_spans_overlap() -> None:
    apart = deltas_of([("f1", "a", M0 + 1_000, 2.0)], [("f1", "a", M0 + 2_000, 3.0)])[("f1", M0)]
    assert apart.exact and apart.partial(0) == MeterPartial(5.0, 2, 2.0, 3.0)
    overlapping = deltas_of([("f1", "a", M0 + 1_000, 2.0), ("f1", "a", M0 + 9_000, 2.0)],
                            [("f1", "a", M0 + 5_000, 3.0)])[("f1", M0)]
    assert not overlapping.exact and overlapping.partial(0).count == 3


def test_deltas_of_one_minute_from_two_bundles_merge() -> None:
    one = deltas_of([("f1", "a", M0 + 1_000, 2.0)])[("f1", M0)]
    two = deltas_of([("f1", "a", M0 + 2_000, 3.0), ("f1", "b", M0 + 2_000, 1.0)])[("f1", M0)]
    merged = merge_minute_deltas([one, two])
    assert merged.exact and merged.partial(merged.meters["a"]) == MeterPartial(5.0, 2, 2.0, 3.0)
    assert not merge_minute_deltas([one, one]).exact  # the same reading twice


def test_new_readings_add_to_the_stored_meter() -> None:
    delta = deltas_of([("f1", "a", M0 + 31_000, 4.0), ("f1", "b", M0 + 1_000, 1.0)])[("f1", M0)]
    stored = {"a": StoredMeter(MeterPartial(6.0, 2, 2.0, 4.0), M0 + 16_000)}
    updated = updated_meters(delta, stored)
    assert updated == {"a": StoredMeter(MeterPartial(10.0, 3, 2.0, 4.0), M0 + 31_000),
                       "b": StoredMeter(MeterPartial(1.0, 1, 1.0, 1.0), M0 + 1_000)}


def test_a_reading_not_newer_than_the_stored_ones_asks_for_a_recompute() -> None:
    delta = deltas_of([("f1", "a", M0 + 16_000, 9.0)])[("f1", M0)]
    assert updated_meters(delta, {"a": StoredMeter(MeterPartial(6.0, 2, 2.0, 4.0), M0 + 16_000)}) is None
    assert updated_meters(delta, {"a": StoredMeter(MeterPartial(6.0, 2, 2.0, 4.0), None)}) is None  # pre-last_ts row
    repeated = deltas_of([("f1", "a", M0 + 20_000, 1.0), ("f1", "a", M0 + 20_000, 1.0)])[("f1", M0)]
    assert updated_meters(repeated, {}) is None


def test_an_overlap_with_any_earlier_chunk_counts_not_only_the_previous_one() -> None:
    wide = [("f1", "a", M0 + 1_000, 1.0), ("f1", "a", M0 + 50_000, 1.0)]
    inside = deltas_of(wide, [("f1", "a", M0 + 2_000, 1.0)], [("f1", "a", M0 + 30_000, 1.0)])[("f1", M0)]
    assert not inside.exact
    other_meters = deltas_of([("f1", "b", M0 + 59_000, 1.0)], [("f1", "c", M0 + 1_000, 1.0)])[("f1", M0)]
    assert other_meters.exact  # a span of another meter does not carry over
