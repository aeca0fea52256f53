"""The Dagster code location of SEMS: assets, schedules and resources, assembled from the settings.

Demand response is a location of its own (`pipelines.dr.definitions`): its runs must not wait for these imports.
"""

from dagster import Definitions, load_assets_from_modules

from assets import archive, forecast_accuracy, forecasts, training, weather
from pipelines.forecast_replay import forecast_buffer_replay
from pipelines.forecaster_bootstrap import forecaster_bootstrap
from pipelines.resources import resources
from pipelines.schedules import (
    archive_job,
    forecasting_job,
    load_forecast_schedule,
    readings_archive_schedule,
    restore_drill_job,
    restore_drill_schedule,
    training_job,
    training_schedule,
)
from sems.settings import get_settings

defs = Definitions(
    assets=load_assets_from_modules([forecasts, archive, weather, training]),
    asset_checks=[archive.archive_integrity, archive.restore_drill_check, forecasts.forecast_freshness,
                  forecast_accuracy.forecast_accuracy_yesterday],
    jobs=[forecasting_job, training_job, archive_job, restore_drill_job],
    sensors=[forecast_buffer_replay, forecaster_bootstrap],
    schedules=[load_forecast_schedule, training_schedule, readings_archive_schedule, restore_drill_schedule],
    resources=resources(get_settings()),
)
