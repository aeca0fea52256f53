"""Schedules: what runs on the clock."""

from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

forecasting_job = define_asset_job("forecasting_job", selection=AssetSelection.groups("forecasting"))

# Every 15 minutes, on by default: the forecast must never be older than one step.
load_forecast_schedule = ScheduleDefinition(
    name="load_forecast_every_15_minutes",
    job=forecasting_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
