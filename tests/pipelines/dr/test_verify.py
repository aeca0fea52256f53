"""Verification from meter data in QuestDB: CBLs and forecast baseline per interval, the report, reconciliation.

The meter history is written to the stack's QuestDB rollups for fac-005 (Europe/London) in
September 2025, far from the live data other tests and the simulator write; rewriting it on a
rerun upserts the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import holidays
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from pipelines.dr.jobs import dr_reconciliation
from pipelines.dr.report import deliver, enqueue
from pipelines.dr.verify import reconcile, verify
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import Settings
from sems.stores import questdb
from tests.pipelines.dr.conftest import make_event
from tests.pipelines.dr.utility import Utility
from tests.support import wait_until

FACILITY = "fac-005"
START = datetime(2025, 9, 17, 16, 0, tzinfo=UTC)  # a Wednesday, 17:00 in London (BST)
END = START + timedelta(minutes=30)


def _rollup(kw: float, start: datetime, periods: int, freq: str) -> pd.DataFrame:
    minutes = 15 if freq == "15min" else 1
    return pd.DataFrame({"ts": pd.date_range(start, periods=periods, freq=freq), "facility_id": FACILITY,
                         "kw_avg": kw, "kw_min": kw, "kw_max": kw, "kwh": kw * minutes / 60, "readings": 4 * minutes,
                         "meters": 4, "updated_at": pd.Timestamp.now(tz="UTC")})


def _history(settings: Settings) -> None:
    """The 10 business days before the event: the 5 most recent at 200 kW, the 5 before at 300 kW; all else 1000."""
    days = [START.date() - timedelta(days=n) for n in range(1, 46)]
    weekdays = [d for d in days if d.weekday() < 5]
    assert not set(weekdays[:10]) & set(holidays.country_holidays("GB", years=[2025]))
    level = dict.fromkeys(weekdays[:5], 200.0) | dict.fromkeys(weekdays[5:10], 300.0)
    frames = [_rollup(level.get(d, 1000.0), datetime.combine(d, datetime.min.time(), UTC), 96, "15min")
              for d in days]
    # The event day up to its start at 330 kW: the day-of adjustment window reads it.
    frames.append(_rollup(330.0, datetime.combine(START.date(), datetime.min.time(), UTC), 64, "15min"))
    questdb.write_frame(settings, "facility_load_15m", pd.concat(frames), symbols=["facility_id"], at="ts")


def _metered(settings: Settings, kw: float) -> None:
    questdb.write_frame(settings, "facility_load_1m", _rollup(kw, START, 30, "1min"), symbols=["facility_id"],
                        at="ts")


def _minutes_metered(settings: Settings, kw: float) -> bool:
    rows = questdb.query(settings, f"SELECT count() n FROM facility_load_1m WHERE facility_id = '{FACILITY}' AND"
                                   f" ts >= '2025-09-17T16:00:00.000000Z' AND ts < '2025-09-17T16:30:00.000000Z'"
                                   f" AND kw_avg = {kw}")
    return rows[0]["n"] == 30


def _event(engine: Engine, utility_url: str) -> str:
    event_id = make_event(engine, [FACILITY], callback_url=utility_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE dr_events SET starts_at = :s, ends_at = :e WHERE event_id = :eid"),
                     {"s": START, "e": END, "eid": event_id})
        conn.execute(text("INSERT INTO load_forecasts (facility_id, ts, generated_at, p10, p50, p90, model_version,"
                          " source) VALUES (:f, :s, :g, 380, 400, 420, 'test', 'model'),"
                          " (:f, :s + interval '15 minutes', :g, 380, 400, 420, 'test', 'model')"
                          " ON CONFLICT DO NOTHING"), {"f": FACILITY, "s": START, "g": START - timedelta(hours=1)})
    return event_id


@pytest.fixture(scope="module")
def metered(settings: Settings) -> None:
    _history(settings)
    _metered(settings, 280.0)
    wait_until(lambda: _minutes_metered(settings, 280.0), timeout_s=60, what="the meter data to be queryable")
    wait_until(lambda: questdb.query(settings, f"SELECT count() n FROM facility_load_15m WHERE facility_id ="
                                               f" '{FACILITY}' AND ts >= '2025-08-02' AND ts < '2025-09-18'")[0]["n"]
               >= 45 * 96, timeout_s=60, what="the history to be queryable")


def test_verification_per_interval_against_each_baseline_is_stored_and_reported(
    settings: Settings, engine: Engine, utility: Utility, metered: None,
) -> None:
    event_id = _event(engine, utility.url)
    verified = verify(engine, settings, event_id)
    measured = verified[FACILITY]
    # 10 of 10: mean 250 x min(1.2, 330/250) = 300; high 5 of 10: 300 x 330/300 = 330; forecast P50 400; metered 280.
    assert measured["method"] == "high_five_of_ten"
    assert measured["cbl"]["high_five_of_ten"]["adjustment"] == pytest.approx(1.1)
    assert measured["cbl"]["ten_of_ten"]["adjustment"] == pytest.approx(1.2)
    assert measured["cbl"]["ten_of_ten"]["unadjusted_ratio"] == pytest.approx(1.32)
    assert {m: b["achieved_kw"] for m, b in measured["baselines"].items()} == pytest.approx(
        {"ten_of_ten": 20.0, "high_five_of_ten": 50.0, "forecast_p50": 120.0})
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT starts_at, metered_kw, minutes, ten_of_ten_kw, high_five_of_ten_kw,"
                                   " forecast_p50_kw, baseline_kw, achieved_kw FROM dr_event_intervals"
                                   " WHERE event_id = :eid ORDER BY starts_at"), {"eid": event_id}).all()
        facility = conn.execute(text("SELECT achieved_reduction_kw, baseline_method FROM dr_event_facilities"
                                     " WHERE event_id = :eid"), {"eid": event_id}).one()
    assert [tuple(r)[1:] for r in stored] == [pytest.approx((280.0, 15, 300.0, 330.0, 400.0, 330.0, 50.0))] * 2
    assert [r.starts_at for r in stored] == [START, START + timedelta(minutes=15)]
    assert tuple(facility) == (pytest.approx(50.0), "high_five_of_ten")

    assert enqueue(engine, settings, event_id, verified) == utility.url
    assert deliver(engine, settings) >= 1
    (report,) = [r for r in utility.received if r["eventID"] == event_id]
    (resource,) = report["resources"]
    assert resource["resourceName"] == FACILITY
    assert [i["intervalPeriod"] for i in resource["intervals"]] == [
        {"start": (START + timedelta(minutes=m)).isoformat(), "duration": "PT900S"} for m in (0, 15)]
    assert [{p["type"]: p["values"][0] for p in i["payloads"]} for i in resource["intervals"]] == [
        {"BASELINE": pytest.approx(330.0), "DELTA_USAGE": pytest.approx(-50.0)}] * 2


def test_reconciliation_job_alerts_when_fresh_meter_data_disagrees(
    settings: Settings, engine: Engine, utility: Utility, metered: None,
) -> None:
    event_id = _event(engine, utility.url)
    verify(engine, settings, event_id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE dr_events SET status = 'completed' WHERE event_id = :eid"), {"eid": event_id})
    resources = {"postgres": PostgresResource.from_settings(settings),
                 "questdb": QuestDBResource.from_settings(settings)}
    run_config = {"ops": {"reconcile_dr_events": {"config": {"event_ids": [event_id]}}}}
    clean = dr_reconciliation.execute_in_process(run_config=run_config, resources=resources)
    assert clean.success and clean.output_for_node("reconcile_dr_events") == 1
    try:
        _metered(settings, 310.0)  # late, corrected meter data: only 20 kW were shed, 60 % off the recorded 50
        wait_until(lambda: _minutes_metered(settings, 310.0), timeout_s=60, what="the corrected meter data")
        assert [o["facility_id"] for o in reconcile(engine, settings, event_id)] == [FACILITY]
        failed = dr_reconciliation.execute_in_process(run_config=run_config, resources=resources,
                                                      raise_on_error=False)
        assert not failed.success
        (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        error = failure.step_failure_data.error
        assert error is not None and event_id in error.message and "10%" in error.message
        user_failure = failure.step_failure_data.user_failure_data
        assert user_failure is not None
        discrepancies: Any = user_failure.metadata["discrepancies"].value
        assert discrepancies[event_id][0]["fresh_kw"] == pytest.approx(20.0)
        with engine.connect() as conn:
            alerts = conn.execute(text("SELECT count(*) FROM dr_audit_log WHERE event_id = :eid"
                                       " AND transition = 'reconciliation alert'"), {"eid": event_id}).scalar_one()
        assert alerts == 2
        with engine.connect() as conn:
            checks = conn.execute(text("SELECT off, fresh_kw FROM dr_reconciliations WHERE event_id = :eid"
                                       " AND facility_id = :fid ORDER BY id"), {"eid": event_id, "fid": FACILITY}).all()
        # Every check is recorded (what the API's /metrics counts): clean, then off twice (reconcile, then the job).
        assert [c.off for c in checks] == [False, True, True]
        assert checks[-1].fresh_kw == pytest.approx(20.0)
    finally:
        _metered(settings, 280.0)  # the module's other tests read the original meter data
        wait_until(lambda: _minutes_metered(settings, 280.0), timeout_s=60, what="the restored meter data")

