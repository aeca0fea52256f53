"""The history backfill against the stack's QuestDB: the rollups forecasting reads, complete, modelled, written once.

Test facilities get ids of their own (unknown to PostgreSQL, so forecasting and the UI
ignore them) and a two-day window, so the test takes seconds and leaves the demo fleet alone.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from apps.simulator.backfill import backfill
from apps.simulator.facility_model import FacilityModel
from sems.facilities import Facility, demo_fleet
from sems.settings import Settings
from sems.stores import questdb
from sems.stores.questdb import wait_wal_applied
from tests.support import wait_until

DAYS = 2
TABLES = ("facility_load_1m", "facility_load_15m", "facility_load_1h")


def _facilities(count: int) -> list[Facility]:
    tag = uuid.uuid4().hex[:8]
    return [replace(f, facility_id=f"bf-{tag}-{i}") for i, f in enumerate(demo_fleet(count, 2))]


def _rows(settings: Settings, table: str, facility_id: str) -> pl.DataFrame:
    for name in TABLES:
        wait_wal_applied(settings, name, timeout_s=30)
    rows = questdb.query(settings, f"SELECT * FROM {table} WHERE facility_id = '{facility_id}' ORDER BY ts")
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def _complete(settings: Settings, facility_id: str, minutes: int) -> list[pl.DataFrame]:
    rows = _rows(settings, "facility_load_1m", facility_id)
    return [rows] if len(rows) == minutes else []


def test_backfill_writes_every_minute_quarter_and_hour_of_modelled_load_once(settings: Settings) -> None:
    facility = _facilities(1)[0]
    model = FacilityModel(facility)
    end = datetime(2026, 11, 20, 13, 7, tzinfo=UTC)  # a Friday afternoon, not on a bucket boundary
    written = backfill(settings, [model], DAYS, end=end)
    start = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)  # the hour of `end`, DAYS before
    minutes = int((end - start) / timedelta(minutes=1))
    assert written == {"facility_load_1m": minutes, "facility_load_15m": DAYS * 96, "facility_load_1h": DAYS * 24}

    [one_minute] = wait_until(lambda: _complete(settings, facility.facility_id, minutes), what="the minute rows")
    assert one_minute["ts"][0].startswith("2026-11-18T13:00:00") and one_minute["ts"][-1].startswith("2026-11-20T13:06")
    modelled = [model.load_kw(datetime.fromisoformat(ts) + timedelta(seconds=30)) for ts in one_minute["ts"]]
    ratios = one_minute["kw_avg"] / pl.Series(modelled)
    assert abs(float(ratios.mean()) - 1) < 0.005 and float(ratios.std()) < 0.03  # the model, a minute-mean's noise
    assert ((one_minute["kwh"] - one_minute["kw_avg"] / 60).abs() < 1e-9).all()
    assert (one_minute["readings"] > 0).all() and (one_minute["meters"] == 2).all()
    assert (one_minute["kw_min"] < one_minute["kw_avg"]).all() and (one_minute["kw_avg"] < one_minute["kw_max"]).all()

    quarters = _rows(settings, "facility_load_15m", facility.facility_id)
    assert len(quarters) == DAYS * 96 and quarters["ts"][-1].startswith("2026-11-20T12:45")  # 13:00-13:15 is cut
    first_quarter = one_minute.head(15)["kw_avg"].mean()
    assert abs(quarters["kw_avg"][0] - first_quarter) < 1e-6
    assert len(_rows(settings, "facility_load_1h", facility.facility_id)) == DAYS * 24

    training = questdb.query(settings, "SELECT ts, facility_id, avg(kw_avg) AS kw FROM facility_load_1m "
                                       f"WHERE facility_id = '{facility.facility_id}' SAMPLE BY 15m ALIGN TO CALENDAR")
    assert len(training) == DAYS * 96 + 1  # the query forecasting runs sees every quarter-hour (plus the cut one)

    again = backfill(settings, [model], DAYS, end=end)
    assert again == dict.fromkeys(TABLES, 0)
    assert len(_rows(settings, "facility_load_1m", facility.facility_id)) == minutes


def test_backfill_fills_only_before_the_first_stored_minute_and_keeps_measured_rows(settings: Settings) -> None:
    measured_facility, fresh_facility = _facilities(2)
    end = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    first_live = end - timedelta(hours=5)
    live = pl.DataFrame({"ts": [first_live], "facility_id": [measured_facility.facility_id], "kw_avg": [1.0],
                         "kw_min": [1.0], "kw_max": [1.0], "kwh": [1 / 60], "readings": [4], "meters": [1]},
                        schema_overrides={"ts": pl.Datetime("us", "UTC"), "meters": pl.Int32})
    questdb.write_frame(settings, "facility_load_1m", live)
    wait_until(lambda: len(_rows(settings, "facility_load_1m", measured_facility.facility_id)) == 1,
               what="the measured minute")

    written = backfill(settings, [FacilityModel(measured_facility), FacilityModel(fresh_facility)], 1, end=end)
    assert written["facility_load_1m"] == (24 * 60 - 5 * 60) + 24 * 60
    measured = _rows(settings, "facility_load_1m", measured_facility.facility_id)
    assert len(measured) == 24 * 60 - 5 * 60 + 1
    assert measured.filter(pl.col("ts").str.starts_with("2026-11-20T19:00"))["kw_avg"].to_list() == [1.0]
    assert measured["ts"][-2].startswith("2026-11-20T18:59")
    assert len(_rows(settings, "facility_load_1m", fresh_facility.facility_id)) == 24 * 60
