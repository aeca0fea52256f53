"""The whole Dagster code location loads: the forecast asset, its schedule and the store resources."""

from __future__ import annotations

from dagster import AssetKey, DefaultScheduleStatus

from pipelines.definitions import defs
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import Settings


def test_definitions_hold_the_forecast_asset_schedule_and_resources(settings: Settings) -> None:
    assert AssetKey("load_forecast") in defs.resolve_asset_graph().get_all_asset_keys()
    schedule = defs.resolve_schedule_def("load_forecast_every_15_minutes")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.job.name == "forecasting_job"
    resources = defs.resources or {}
    assert isinstance(resources["postgres"], PostgresResource)
    assert isinstance(resources["questdb"], QuestDBResource)
    assert resources["forecasting"].step_minutes == settings.forecast_step_minutes
    # Resources point at this stack, ports already offset.
    assert resources["postgres"].port == settings.postgres_port
    assert resources["questdb"].http_port == settings.questdb_http_port


def test_resources_hand_the_stores_the_configured_ports_unshifted(settings: Settings) -> None:
    store = PostgresResource.from_settings(settings).store_settings()
    assert store.postgres_port == settings.postgres_port
    assert store.postgres_url == settings.postgres_url
    assert QuestDBResource.from_settings(settings).store_settings().questdb_http_url == settings.questdb_http_url
