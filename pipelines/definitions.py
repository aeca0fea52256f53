"""The Dagster code location of SEMS: assets, schedules and resources, assembled from the settings."""

from dagster import Definitions, load_assets_from_modules

from assets import forecasts
from pipelines.resources import resources
from pipelines.schedules import forecasting_job, load_forecast_schedule
from sems.settings import get_settings

defs = Definitions(
    assets=load_assets_from_modules([forecasts]),
    jobs=[forecasting_job],
    schedules=[load_forecast_schedule],
    resources=resources(get_settings()),
)
