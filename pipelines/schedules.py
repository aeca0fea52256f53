"""Schedules: what runs on the clock."""

from __future__ import annotations

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets.archive import daily

forecasting_job = define_asset_job("forecasting_job", selection=AssetSelection.groups("forecasting"))

# Every 15 minutes, on by default: the forecast must never be older than one step.
load_forecast_schedule = ScheduleDefinition(
    name="load_forecast_every_15_minutes",
    job=forecasting_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)

training_job = define_asset_job("load_forecaster_training_job", selection=AssetSelection.groups("training"))

# Weekly retraining, Monday 02:00 UTC (on demand: materialise `load_forecaster` in the UI).
training_schedule = ScheduleDefinition(
    name="load_forecaster_weekly", job=training_job, cron_schedule="0 2 * * 1",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING,
)

archive_job = define_asset_job("archive_job", selection=AssetSelection.groups("archive"), partitions_def=daily)

# Yesterday's partition at 01:30 UTC: late readings (allowed lateness is minutes) have landed by then.
readings_archive_schedule = build_schedule_from_partitioned_job(
    archive_job, hour_of_day=1, minute_of_hour=30, default_status=DefaultScheduleStatus.RUNNING,
)

# S5: once a month restore a random archived day and re-verify every manifest.
restore_drill_job = define_asset_job(
    "archive_restore_drill_job",
    selection=AssetSelection.checks(AssetCheckKey(AssetKey("readings_archive"), "restore_drill_check"),
                                    AssetCheckKey(AssetKey("readings_archive"), "archive_integrity")),
)
restore_drill_schedule = ScheduleDefinition(
    name="archive_restore_drill_monthly", job=restore_drill_job, cron_schedule="0 3 1 * *",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING,
)
