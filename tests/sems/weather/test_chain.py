"""Failover order, the last-good cache with its age, and WeatherUnavailable when nothing is left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sems.settings import Settings
from sems.weather.chain import ForecastCache, WeatherChain, chain
from sems.weather.model import WeatherUnavailable
from sems.weather.replay import ReplayProvider
from tests.sems.weather.fake_providers import FakeWeather
from tests.sems.weather.test_providers import _providers


@pytest.fixture
def servers() -> Iterator[list[FakeWeather]]:
    fakes = [FakeWeather() for _ in range(3)]
    yield fakes
    for fake in fakes:
        fake.close()


def _chain(servers: list[FakeWeather], tmp_path: Path) -> WeatherChain:
    providers = [_providers(server.url)[i] for i, server in enumerate(servers)]
    return WeatherChain(list(providers), ForecastCache(tmp_path), max_age=timedelta(hours=6))


def test_fails_over_in_order_and_names_the_reasons(servers: list[FakeWeather], tmp_path: Path) -> None:
    weather = _chain(servers, tmp_path)
    assert weather.forecast(40.7, -74.2, 24).provider == "weatherapi"
    servers[0].mode = "500"
    assert weather.forecast(40.7, -74.2, 24).provider == "open_meteo"
    servers[1].mode = "slow"
    result = weather.forecast(40.7, -74.2, 24)
    assert result.provider == "nws" and not result.cached
    assert set(weather.failures) == {"weatherapi", "open_meteo"}
    assert "500" in weather.failures["weatherapi"]
    assert servers[2].hits["points"] == 1


def test_all_down_serves_the_cache_with_its_age_then_gives_up(servers: list[FakeWeather], tmp_path: Path) -> None:
    weather = _chain(servers, tmp_path)
    fetched = datetime.now(UTC)
    first = weather.forecast(52.5, 13.4, 24, now=fetched)
    for server in servers:
        server.mode = "garbage"
    later = fetched + timedelta(hours=2)
    # The cache still covers 24 h from `later` only if providers sent enough hours; they send 72.
    cached = weather.forecast(52.5, 13.4, 24, now=later)
    assert cached.cached and cached.provider == first.provider
    assert cached.age_s(later) == pytest.approx(7200, abs=1)
    assert cached.hourly.equals(first.hourly)
    with pytest.raises(WeatherUnavailable, match="weatherapi.*open_meteo.*nws.*7.0 h old"):
        weather.forecast(52.5, 13.4, 24, now=fetched + timedelta(hours=7))


def test_default_chain_is_the_offline_replay(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    weather = chain(settings)
    assert [p.name for p in weather.providers] == ["replay"]
    result = weather.forecast(25.7, -80.2, 24)
    assert result.provider == "replay" and result.hourly.height >= 24
    assert isinstance(weather.providers[0], ReplayProvider)
    with pytest.raises(ValueError, match="unknown weather providers"):
        chain(Settings(state_dir=tmp_path, weather_providers=["replay", "accuweather"]))
