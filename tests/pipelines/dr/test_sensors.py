"""The DR inbox sensor: run requests and cursor, as a pure decision and against the real inbox."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from dagster import SensorResult, SkipReason, build_sensor_context
from sqlalchemy import Engine, text

from pipelines.dr.sensors import decide, dr_inbox_sensor
from pipelines.resources import PostgresResource
from sems.settings import Settings
from tests.pipelines.dr.conftest import make_event

NOW = datetime(2026, 6, 2, 16, 0, tzinfo=UTC)


def test_decide_dispatches_due_events_keeps_future_ones_and_releases_ended_and_cancelled() -> None:
    inbox = [
        {"id": 7, "event_id": "due", "revision": 3, "operation": "upsert", "starts_at": NOW + timedelta(seconds=60)},
        {"id": 8, "event_id": "later", "revision": 0, "operation": "upsert", "starts_at": NOW + timedelta(hours=3)},
        {"id": 9, "event_id": "gone", "revision": 2, "operation": "cancel", "starts_at": NOW},
    ]
    cursor = {"inbox_id": 6, "scheduled": {"gone": {"revision": 1, "starts_at": NOW.isoformat()}}}
    requests, next_cursor = decide(cursor, inbox, ["over"], NOW, lead_s=120, open_ids={"due", "later", "gone"})
    assert [(r.job_name, r.run_key) for r in requests] == [
        ("dr_release", "gone:2:release"), ("dr_dispatch", "due:3"), ("dr_release", "over:end")]
    assert requests[1].run_config == {"ops": {"dispatch_dr_event": {"config": {"event_id": "due"}}}}
    assert next_cursor == {"inbox_id": 9, "scheduled": {"later": {"revision": 0,
                                                                  "starts_at": (NOW + timedelta(hours=3)).isoformat()}}}
    # The waiting event is dispatched once its start comes within the lead time, and only then.
    again, final = decide(next_cursor, [], [], NOW + timedelta(hours=3), lead_s=120, open_ids={"later"})
    assert [r.run_key for r in again] == ["later:0"] and final == {"inbox_id": 9, "scheduled": {}}
    # An update of an active event is dispatched at once, whatever its start (the saga re-plans it).
    update = [{"id": 10, "event_id": "live", "revision": 4, "operation": "upsert",
               "starts_at": NOW + timedelta(hours=5)}]
    replans, _ = decide(next_cursor, update, [], NOW, lead_s=120, open_ids={"later", "live"},
                        active_ids=frozenset({"live"}))
    assert [r.run_key for r in replans] == ["live:4"]
    # An event cancelled or failed meanwhile leaves the waiting list without a run.
    dropped, pruned = decide(next_cursor, [], [], NOW + timedelta(hours=3), lead_s=120, open_ids=set())
    assert dropped == [] and pruned == {"inbox_id": 9, "scheduled": {}}


def test_sensor_reads_the_inbox_and_advances_its_cursor(settings: Settings, engine: Engine) -> None:
    with engine.connect() as conn:
        last = conn.execute(text("SELECT coalesce(max(id), 0) FROM dr_inbox")).scalar_one()
    upcoming = make_event(engine, ["fac-001"])
    cancelled = make_event(engine, ["fac-002"])
    make_event(engine, ["fac-002"], event_id=cancelled, revision=1, status="cancelled")
    resources = {"postgres": PostgresResource.from_settings(settings)}
    context = build_sensor_context(cursor=json.dumps({"inbox_id": last, "scheduled": {}}), resources=resources)
    result = dr_inbox_sensor(context)
    assert isinstance(result, SensorResult)
    mine = [(r.job_name, r.run_key) for r in result.run_requests or []
            if r.tags["dr/event_id"] in (upcoming, cancelled)]
    assert mine == [("dr_release", f"{cancelled}:1:release")]
    cursor = json.loads(result.cursor or "{}")
    assert cursor["inbox_id"] > last and upcoming in cursor["scheduled"] and cancelled not in cursor["scheduled"]
    quiet = dr_inbox_sensor(build_sensor_context(cursor=result.cursor, resources=resources))
    assert isinstance(quiet, SkipReason | SensorResult)
    assert isinstance(quiet, SkipReason) or all(
        r.tags["dr/event_id"] not in (upcoming, cancelled) for r in quiet.run_requests or [])


def test_the_dr_code_location_carries_the_dr_jobs_sensors_and_the_daily_reconciliation() -> None:
    from pipelines.dr.definitions import defs

    assert {"dr_dispatch", "dr_release", "dr_report_delivery", "dr_reconciliation"} <= {
        j.name for j in defs.resolve_all_job_defs()}
    # Under the daemon's 5 s loop, so every loop evaluates it (5 would alias with the loop: ticks 10 s apart).
    assert defs.get_sensor_def("dr_inbox_sensor").minimum_interval_seconds == 1
    assert defs.get_sensor_def("dr_outbox_sensor").job_name == "dr_report_delivery"
    schedule = defs.get_schedule_def("dr_reconciliation_daily")
    assert (schedule.job_name, schedule.cron_schedule) == ("dr_reconciliation", "30 4 * * *")
    # One op per job, run in the run's own process: a dispatch does not start a second interpreter.
    assert all(j.executor_def.name == "in_process" for j in defs.resolve_all_job_defs() if j.name.startswith("dr_"))


def test_the_dr_code_location_imports_none_of_the_forecasting_stack() -> None:
    code = ("import sys, pipelines.dr.definitions; "
            "print(sorted({'xgboost', 'mlflow', 'sklearn', 'pandas', 'assets'} & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert loaded.stdout.strip() == "[]", loaded.stderr
