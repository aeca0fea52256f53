"""Each HTTP client against a local server in its provider's format: parsing, timeouts, errors, breaker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sems.resilience import BreakerState, CircuitBreaker, CircuitOpenError
from sems.weather.http import HTTPProvider, NWSProvider, OpenMeteoProvider, WeatherAPIProvider
from sems.weather.model import WeatherError
from sems.weather.replay import STATIONS, ReplayProvider, nearest_station
from tests.sems.weather.fake_providers import HOURS, FakeWeather


@pytest.fixture
def fake() -> Iterator[FakeWeather]:
    server = FakeWeather()
    yield server
    server.close()


def _providers(url: str, threshold: int = 3) -> list[HTTPProvider]:
    def breaker(name: str) -> CircuitBreaker:
        return CircuitBreaker(f"test_{name}", failure_threshold=threshold, reset_timeout_s=60)

    return [WeatherAPIProvider(url + "/v1", "k", timeout_s=0.5, breaker=breaker("wa")),
            OpenMeteoProvider(url, timeout_s=0.5, breaker=breaker("om")),
            NWSProvider(url, timeout_s=0.5, breaker=breaker("nws"))]


def test_each_format_parses_to_hourly_utc_celsius(fake: FakeWeather) -> None:
    weatherapi, open_meteo, nws = (p.hourly(40.7, -74.2, 24) for p in _providers(fake.url))
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for frame in (weatherapi, open_meteo, nws):
        assert frame.height == HOURS
        assert frame["ts"][0] == now_hour  # NWS sends -05:00 offsets; all arrive in UTC
        assert frame["ts"].is_sorted()
    assert open_meteo["temp_c"].to_list() == [11.0] * HOURS
    assert nws["temp_c"][0] == pytest.approx(10.0)  # 50 °F
    assert nws["humidity_pct"][0] == 80.0
    assert weatherapi["temp_c"][0] == 20.0 + now_hour.hour % 5
    assert fake.hits["points"] == 1 and fake.hits["/gridpoints/TOP/31,80/forecast/hourly"] == 1


@pytest.mark.parametrize("mode", ["slow", "500", "garbage"])
def test_bad_answers_are_weather_errors(fake: FakeWeather, mode: str) -> None:
    fake.mode = mode
    for provider in _providers(fake.url):
        with pytest.raises(WeatherError, match=provider.name):
            provider.hourly(40.7, -74.2, 24)


def test_breaker_opens_after_failures_and_stops_calling(fake: FakeWeather) -> None:
    fake.mode = "500"
    provider = _providers(fake.url, threshold=2)[1]
    for _ in range(2):
        with pytest.raises(WeatherError):
            provider.hourly(52.5, 13.4, 24)
    assert provider.breaker.state is BreakerState.OPEN
    fake.mode = "ok"
    with pytest.raises(CircuitOpenError):
        provider.hourly(52.5, 13.4, 24)
    assert fake.hits["/v1/forecast"] == 2  # the open breaker did not call the provider a third time


def test_replay_uses_the_nearest_real_tmy_station() -> None:
    assert nearest_station(25.7, -80.2) == "miami"
    assert nearest_station(36.0, -80.0) == "greensboro"
    assert nearest_station(57.0, -158.0) == "sand_point"
    start = datetime(2025, 7, 15, tzinfo=UTC)
    miami = ReplayProvider().between(25.7, -80.2, start, start.replace(day=16))
    alaska = ReplayProvider().between(57.0, -158.0, start, start.replace(day=16))
    assert miami.height == alaska.height == 24
    assert float(miami["temp_c"].mean()) > float(alaska["temp_c"].mean()) + 10  # type: ignore[arg-type]  # July: Miami vs Aleutians
    assert miami["temp_c"].null_count() == 0 and set(STATIONS) == {"miami", "greensboro", "sand_point"}
    leap = ReplayProvider("greensboro").between(36.0, -80.0, datetime(2028, 2, 29, tzinfo=UTC),
                                                datetime(2028, 3, 1, tzinfo=UTC))
    assert leap.height == 24 and leap["temp_c"].null_count() == 0
