"""`weather_forecast` for the seeded fleet (offline replay), and a place whose providers all fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import materialize

from assets.weather import fleet_weather, weather_forecast
from pipelines.resources import resources
from sems.settings import Settings
from sems.weather.chain import ForecastCache, WeatherChain
from sems.weather.replay import ReplayProvider
from tests.sems.weather.fake_providers import FakeWeather
from tests.sems.weather.test_providers import _providers


def test_weather_forecast_asset_covers_every_facility(settings: Settings) -> None:
    result = materialize([weather_forecast], resources=resources(settings))
    assert result.success
    frame = result.output_for_node("weather_forecast")
    assert frame["facility_id"].n_unique() == settings.simulator_facilities
    assert set(frame["provider"]) == {"replay"}
    assert frame.group_by("facility_id").len()["len"].min() >= settings.forecast_horizon_hours


def test_facilities_without_weather_are_named_not_dropped_silently(tmp_path: Path) -> None:
    fake = FakeWeather()
    fake.mode = "500"
    try:
        failing = WeatherChain(list(_providers(fake.url)), ForecastCache(tmp_path), max_age=timedelta(hours=1))
        places = [{"facility_id": "fac-x", "latitude": 40.0, "longitude": -74.0}]
        frame, missing = fleet_weather(failing, places, 24, datetime.now(UTC))
    finally:
        fake.close()
    assert frame.is_empty() and "weatherapi" in missing["fac-x"] and "nothing cached" in missing["fac-x"]
    working = WeatherChain([ReplayProvider()], ForecastCache(tmp_path), max_age=timedelta(hours=1))
    frame, missing = fleet_weather(working, places, 24, datetime.now(UTC))
    assert not missing and set(frame["provider"]) == {"replay"} and frame["age_s"].max() == 0.0
