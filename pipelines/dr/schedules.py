"""The DR schedule: the daily reconciliation of recorded reductions against fresh meter data."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from pipelines.dr.jobs import dr_reconciliation

# 04:30 UTC: after the overnight rollup rewrites of late meter data, before the utility's settlement day starts.
dr_reconciliation_schedule = ScheduleDefinition(
    name="dr_reconciliation_daily", job=dr_reconciliation, cron_schedule="30 4 * * *",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING,
)
