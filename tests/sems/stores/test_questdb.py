"""QuestDB store client against the running test stack: schema step, SQL, the dataframe writer, DEDUP."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import polars as pl
import pytest

from sems.settings import Settings
from sems.stores import questdb
from sems.stores.questdb_schema import tables
from tests.support import wait_until


def _readings(facility_id: str, kws: list[float], start: dt.datetime) -> pl.DataFrame:
    count = len(kws)
    return pl.DataFrame({
        "ts": [start + dt.timedelta(seconds=i) for i in range(count)],
        "facility_id": [facility_id] * count,
        "meter_id": [f"{facility_id}-m01"] * count,
        "kw": kws,
        "kwh": [100.0 + i for i in range(count)],
        "seq": list(range(count)),
    })


def _rows(settings: Settings, facility_id: str) -> list[dict]:
    return questdb.query(settings, f"SELECT ts, kw, seq FROM readings WHERE facility_id = '{facility_id}' ORDER BY ts")


def _now() -> dt.datetime:
    # Recent timestamps (rows older than the readings TTL could be dropped with their partition), and
    # 2,500 readings 1 s apart still end in the past: a future row in `readings` makes every later
    # write out of order for QuestDB (it merged each job commit into the partition, found in a bench).
    return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def test_ensure_schema_is_idempotent(settings: Settings) -> None:
    questdb.ensure_schema(settings)
    assert questdb.ensure_schema(settings) == []
    described = {r["table_name"]: r for r in questdb.query(
        settings, "SELECT table_name, dedup, walEnabled, ttlValue, ttlUnit, partitionBy FROM tables()")}
    for name in tables(settings):
        assert described[name]["dedup"] and described[name]["walEnabled"], name
        assert described[name]["partitionBy"] == "DAY", name
    assert (described["readings"]["ttlValue"], described["readings"]["ttlUnit"]) == (90, "DAY")


def test_dedup_keys_are_the_row_identity(settings: Settings) -> None:
    keys = {r["column"] for r in questdb.query(
        settings, "SELECT \"column\" FROM table_columns('readings') WHERE upsertKey")}
    assert keys == {"ts", "facility_id", "meter_id"}


def test_written_polars_frame_is_queryable(settings: Settings) -> None:
    facility = f"test-{uuid.uuid4().hex[:8]}"
    assert questdb.write_frame(settings, "readings", _readings(facility, [1.5, 2.5, 3.5], _now())) == 3
    rows = wait_until(lambda: len(_rows(settings, facility)) == 3 and _rows(settings, facility),
                      timeout_s=30, what="written readings to be visible")
    assert [r["kw"] for r in rows] == [1.5, 2.5, 3.5]


def test_duplicate_rows_are_stored_once_and_upserted(settings: Settings) -> None:
    facility = f"test-{uuid.uuid4().hex[:8]}"
    start = _now()
    questdb.write_frame(settings, "readings", _readings(facility, [1.0, 2.0], start))
    questdb.write_frame(settings, "readings", _readings(facility, [1.0, 9.0], start))
    rows = wait_until(lambda: [r["kw"] for r in _rows(settings, facility)] == [1.0, 9.0] and _rows(settings, facility),
                      timeout_s=30, what="the upserted readings")
    assert len(rows) == 2


def test_pandas_frame_is_accepted(settings: Settings) -> None:
    facility = f"test-{uuid.uuid4().hex[:8]}"
    assert questdb.write_frame(settings, "readings", _readings(facility, [4.0], _now()).to_pandas()) == 1
    wait_until(lambda: _rows(settings, facility), timeout_s=30, what="the pandas-written reading")


def test_empty_frame_writes_nothing(settings: Settings) -> None:
    assert questdb.write_frame(settings, "readings", pd.DataFrame({"ts": []})) == 0


def test_frame_without_timestamp_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no timestamp column 'ts'"):
        questdb.write_frame(settings, "readings", pl.DataFrame({"kw": [1.0]}))


def test_frame_of_the_wrong_kind_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="polars or pandas"):
        questdb.write_frame(settings, "readings", [{"ts": 1}])  # type: ignore[arg-type]


def test_bad_sql_raises_with_questdb_reason(settings: Settings) -> None:
    with pytest.raises(questdb.QuestDBError, match="readingz"):
        questdb.query(settings, "SELECT * FROM readingz")


def test_unreachable_questdb_is_a_clear_error(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"questdb_http_port": settings.questdb_health_port + 11})
    with pytest.raises(questdb.QuestDBError, match="unreachable"):
        questdb.query(nowhere, "SELECT 1", timeout_s=1.0)
    with pytest.raises(questdb.QuestDBError, match="did not acknowledge"):
        questdb.write_frame(nowhere, "readings", _readings("test-nowhere", [1.0], _now()))


def test_a_frame_larger_than_one_request_is_written_in_chunks(settings: Settings) -> None:
    facility = f"test-{uuid.uuid4().hex[:8]}"
    kws = [float(i) for i in range(2_500)]
    assert questdb.write_frame(settings, "readings", _readings(facility, kws, _now()), chunk_rows=1_000) == 2_500
    rows = wait_until(lambda: len(_rows(settings, facility)) == 2_500 and _rows(settings, facility),
                      timeout_s=30, what="all three chunks")
    assert [r["kw"] for r in rows] == kws

