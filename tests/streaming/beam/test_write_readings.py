"""The raw readings sink: categorical frames, chunks written in the background, lineage per message."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import apache_beam as beam
import pandas as pd
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from sems.readings import ReadingColumns
from sems.settings import Settings
from sems.stores import questdb
from streaming.beam import write_readings
from streaming.beam.records import ReadingBatch
from streaming.beam.write_readings import WriteReadingsFn, readings_frame
from tests.support import wait_until

Row = tuple[str, int, float, float | None, int | None]  # meter_id, ts_ms, kw, kwh, seq


def batch(facility_id: str, trace_id: str, rows: list[Row]) -> ReadingBatch:
    columns = ReadingColumns(facility_id)
    for meter_id, ts_ms, kw, kwh, seq in rows:
        columns.meter_id.append(meter_id)
        columns.ts_ms.append(ts_ms)
        columns.kw.append(kw)
        columns.kwh.append(kwh)
        columns.seq.append(seq)
    return ReadingBatch(facility_id, columns, trace_id)


def test_the_frame_has_one_row_per_reading_with_its_batch_facility() -> None:
    batches = [
        batch("fac-1", "t-1", [("m-1", 1_000, 1.5, None, 7), ("m-2", 2_000, 2.5, 3.0, None)]),
        batch("fac-1", "t-2", []),  # an empty batch shifts nothing
        batch("fac-2", "t-3", [("m-1", 3_000, 4.0, 5.0, 9)]),
    ]
    frame = readings_frame(batches)
    assert list(frame.columns) == ["ts", "facility_id", "meter_id", "kw", "kwh", "seq"]
    assert frame["facility_id"].astype(str).tolist() == ["fac-1", "fac-1", "fac-2"]
    assert frame["meter_id"].astype(str).tolist() == ["m-1", "m-2", "m-1"]
    assert [ts.value // 1_000_000 for ts in frame["ts"]] == [1_000, 2_000, 3_000]
    assert frame["kw"].tolist() == [1.5, 2.5, 4.0]
    assert math.isnan(frame["kwh"][0]) and frame["kwh"].tolist()[1:] == [3.0, 5.0]
    assert frame["seq"].isna().tolist() == [False, True, False] and frame["seq"][2] == 9
    assert all(str(frame[c].dtype) == "category" for c in ("facility_id", "meter_id"))


def test_lineage_has_one_row_per_record_with_its_messages_and_oldest_and_newest_reading() -> None:
    merged = batch("fac-1", "t-a", [("m-1", 1_000, 1.0, None, 1), ("m-2", 1_005, 2.0, None, 1),
                                    ("m-3", 1_002, 3.0, None, 1)])
    merged = ReadingBatch("fac-1", merged.readings, "t-a", (("t-a", 1), ("t-b", 2)))  # two merged messages
    batches = [batch("fac-0", "t-0", [("m-9", 999, 9.0, None, 1), ("m-8", 990, 8.0, None, 1)]),
               batch("fac-0", "t-empty", []), merged]
    lineage = write_readings.lineage_frame(batches, readings_frame(batches))
    rows = [(r.facility_id, r.trace_id, r.trace_ids, r.trace_readings, r.meter_id, r.ts.value // 1_000_000,
             r.last_ts.value // 1_000_000, r.readings) for r in lineage.fillna("").itertuples()]
    assert rows == [("fac-0", "t-0", "", "", "m-9", 990, 999, 2),
                    ("fac-1", "t-a", "t-a,t-b", "1,2", "m-1", 1_000, 1_005, 3)]


def test_an_empty_bundle_makes_empty_frames() -> None:
    assert readings_frame([]).empty
    assert write_readings.lineage_frame([], readings_frame([])).empty


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(write_readings, "WRITE_CHUNK_ROWS", 300)
    monkeypatch.setattr(write_readings, "HELD_ROWS", 60)
    return 300


def _meter_rows(settings: Settings, facility_id: str) -> int:
    return questdb.query(settings, f"SELECT count() n FROM readings WHERE facility_id = '{facility_id}'")[0]["n"]


def test_a_bundle_larger_than_a_chunk_lands_whole_and_emits_each_touched_minute_once(
    settings: Settings, small_chunks: int
) -> None:
    facility = f"test-wr-{uuid.uuid4().hex[:8]}"
    start = (int(datetime.now(UTC).timestamp()) // 60 - 10) * 60_000  # recent minutes (TTL), on a boundary
    batches = [batch(facility, f"t-{b}", [(f"{facility}-m{i}", start + b * 3_000, float(i), None, b)
                                          for i in range(100)])
               for b in range(25)]  # 2,500 readings: 9 chunks, 2 in flight at most, over minutes 0 and 1
    with beam.Pipeline() as pipeline:
        deltas = pipeline | beam.Create(batches, reshuffle=False) | beam.ParDo(WriteReadingsFn(settings))
        # Per touched minute, what the bundle added to each meter: 20 and 5 readings of each of 100 meters.
        summary = deltas | beam.Map(lambda e: (e[0], e[1].minute_ms, len(e[1].meter_ids), sum(e[1].count),
                                               sum(e[1].kw_sum), e[1].exact))
        assert_that(summary, equal_to([(facility, start, 100, 2_000, 20 * 4_950.0, True),
                                       (facility, start + 60_000, 100, 500, 5 * 4_950.0, True)]))
    counters = {c.key.metric.name: c.committed for c in
                pipeline.result.metrics().query(MetricsFilter().with_namespace("sems.beam"))["counters"]}
    assert counters["readings_written"] == 2_500
    wait_until(lambda: _meter_rows(settings, facility) == 2_500, timeout_s=30, what="all chunks in QuestDB")
    lineage = wait_until(lambda: r if len(r := _lineage(settings, facility)) == 25 else None,
                         timeout_s=30, what="one lineage row per batch")
    assert [(r["trace_id"], r["readings"]) for r in lineage] == [(f"t-{b}", 100) for b in range(25)]
    assert all(r["ingested_at"] is not None for r in lineage)


def _lineage(settings: Settings, facility_id: str) -> list[dict]:
    return questdb.query(settings, f"SELECT trace_id, readings, ingested_at FROM reading_lineage "
                                   f"WHERE facility_id = '{facility_id}' ORDER BY ts")


def test_chunks_go_out_in_time_order_when_batches_arrive_a_little_out_of_order(
    settings: Settings, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pairs of batches swapped (records of two facilities interleave): batch 6 is older than batch 5,
    # across the first chunk's boundary. Sent as they came, the second commit would be out of order in
    # QuestDB (it rewrites the rows after the oldest new one); held back and sorted, it appends.
    facility = f"test-wr-{uuid.uuid4().hex[:8]}"
    start = (int(datetime.now(UTC).timestamp()) // 60 - 10) * 60_000
    order = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 11]
    sent: list[tuple[int, int]] = []
    real_attempt = write_readings.attempt_write

    def record_order(settings: Settings, table: str, frame: pd.DataFrame, **_: object) -> str | None:
        if table == write_readings.TABLE:
            ts = frame["ts"].astype("int64")
            sent.append((int(ts.min()), int(ts.max())))
        return real_attempt(settings, table, frame)

    monkeypatch.setattr(write_readings, "attempt_write", record_order)
    batches = [batch(facility, f"t-{b}", [(f"{facility}-m{i}", start + b * 1_000, 1.0, None, b) for i in range(50)])
               for b in order]
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(batches, reshuffle=False) | beam.ParDo(WriteReadingsFn(settings))
    assert len(sent) >= 2
    assert all(later[0] >= earlier[1] for earlier, later in zip(sent, sent[1:], strict=False))
    wait_until(lambda: _meter_rows(settings, facility) == 600, timeout_s=30, what="every reading in QuestDB")


def test_a_chunk_questdb_refuses_is_dead_lettered_and_the_others_land(
    settings: Settings, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QuestDB's refusal is simulated for the chunk holding seq 0 (refusals for real: test_questdb_write.py);
    # under test is what the sink does with it: DLQ and counters in the bundle's thread, the rest written.
    facility = f"test-wr-{uuid.uuid4().hex[:8]}"
    start = (int(datetime.now(UTC).timestamp()) // 60 - 10) * 60_000
    refused: list[int] = []
    real_attempt = write_readings.attempt_write

    def refuse_first(settings: Settings, table: str, frame: pd.DataFrame, **_: object) -> str | None:
        if table == write_readings.TABLE and 0 in frame["seq"].tolist():
            refused.append(len(frame))
            return "write refused: simulated"
        return real_attempt(settings, table, frame)

    monkeypatch.setattr(write_readings, "attempt_write", refuse_first)
    dead: list[int] = []
    monkeypatch.setattr(write_readings, "dead_letter", lambda _s, _t, frame, reason: dead.append(len(frame)))
    batches = [batch(facility, f"t-{b}", [(f"{facility}-m{i}", start + b * 1_000, 1.0, None, b) for i in range(100)])
               for b in range(9)]
    with beam.Pipeline() as pipeline:
        deltas = pipeline | beam.Create(batches, reshuffle=False) | beam.ParDo(WriteReadingsFn(settings))
        # Its minute is recomputed from `readings` downstream: part of a refused chunk may be stored.
        assert_that(deltas | beam.Map(lambda e: (e[1].minute_ms, e[1].exact)), equal_to([(start, False)]))
    counters = {c.key.metric.name: c.committed for c in
                pipeline.result.metrics().query(MetricsFilter().with_namespace("sems.beam"))["counters"]}
    assert refused == dead == [300 - 60]  # the first chunk, less the newest rows held back for the next
    assert counters["readings_written"] == 900 - 240
    wait_until(lambda: _meter_rows(settings, facility) == 660, timeout_s=30, what="the accepted chunks")
