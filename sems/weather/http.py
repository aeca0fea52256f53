"""HTTP weather providers in the wire formats of WeatherAPI.com, Open-Meteo and the US NWS API.

Each client has an explicit timeout and its own `CircuitBreaker`: after a few consecutive
failures it stops calling that provider for a cool-down, so a dead provider costs nothing
while the chain uses the next one. A garbled answer counts as a failure like a 500 does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import polars as pl

from sems.resilience import CircuitBreaker
from sems.settings import Settings
from sems.weather.model import WeatherError, hourly_frame

USER_AGENT = "sems-forecasting (ops@sems.invalid)"  # NWS refuses requests without one
_BREAKERS: dict[tuple[str, int, float], CircuitBreaker] = {}


class HTTPProvider:
    """Base: a GET returning JSON through the breaker; subclasses parse their own format."""

    name = "http"

    def __init__(self, base_url: str, *, timeout_s: float, breaker: CircuitBreaker) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.breaker = breaker

    def hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        """At least the next `hours` hours of weather at the place; raises WeatherError or CircuitOpenError."""
        return self.breaker.call(lambda: self._hourly(latitude, longitude, hours))

    def _hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        raise NotImplementedError

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = httpx.get(url, params=params, timeout=self.timeout_s, headers={"User-Agent": USER_AGENT})
            response.raise_for_status()
            return response.json()
        except httpx.HTTPError as exc:
            raise WeatherError(f"{self.name}: {exc!r}") from exc
        except ValueError as exc:
            raise WeatherError(f"{self.name}: answer is not JSON") from exc


class WeatherAPIProvider(HTTPProvider):
    """WeatherAPI.com `forecast.json`: forecast.forecastday[].hour[] with time_epoch, temp_c, humidity."""

    name = "weatherapi"

    def __init__(self, base_url: str, key: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.key = key

    def _hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        days = min(14, hours // 24 + 2)
        body = self._get(f"{self.base_url}/forecast.json", {"key": self.key, "q": f"{latitude},{longitude}",
                                                             "days": days, "aqi": "no", "alerts": "no"})
        try:
            rows = [h for day in body["forecast"]["forecastday"] for h in day["hour"]]
            ts = [datetime.fromtimestamp(int(h["time_epoch"]), UTC) for h in rows]
            return hourly_frame(ts, [h["temp_c"] for h in rows], [h.get("humidity") for h in rows])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeatherError(f"weatherapi: unexpected answer ({exc!r})") from exc


class OpenMeteoProvider(HTTPProvider):
    """Open-Meteo `/v1/forecast` with `hourly=temperature_2m,relative_humidity_2m` in unix time."""

    name = "open_meteo"

    def _hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        params = {"latitude": latitude, "longitude": longitude, "hourly": "temperature_2m,relative_humidity_2m",
                  "timeformat": "unixtime", "timezone": "GMT", "forecast_days": min(16, hours // 24 + 2)}
        body = self._get(f"{self.base_url}/v1/forecast", params)
        try:
            hourly = body["hourly"]
            ts = [datetime.fromtimestamp(int(t), UTC) for t in hourly["time"]]
            return hourly_frame(ts, hourly["temperature_2m"], hourly["relative_humidity_2m"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeatherError(f"open_meteo: unexpected answer ({exc!r})") from exc


class NWSProvider(HTTPProvider):
    """US National Weather Service: `/points/{lat},{lon}` names the grid's `forecastHourly` URL."""

    name = "nws"

    def _hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        point = self._get(f"{self.base_url}/points/{latitude:.4f},{longitude:.4f}")
        try:
            forecast_url = point["properties"]["forecastHourly"]
            periods = self._get(str(forecast_url))["properties"]["periods"]
            ts = [datetime.fromisoformat(p["startTime"]) for p in periods]
            temp_c = [_celsius(p["temperature"], p.get("temperatureUnit", "F")) for p in periods]
            humidity = [(p.get("relativeHumidity") or {}).get("value") for p in periods]
            return hourly_frame(ts, temp_c, humidity)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeatherError(f"nws: unexpected answer ({exc!r})") from exc


def _celsius(value: float, unit: str) -> float:
    return (float(value) - 32) * 5 / 9 if unit.upper() == "F" else float(value)


def http_providers(settings: Settings) -> dict[str, HTTPProvider]:
    """The HTTP providers by name, each with a breaker named `weather_<name>`."""

    def breaker(name: str) -> CircuitBreaker:
        # One breaker per provider and process: a chain built again must not forget that a provider is down.
        key = (name, settings.weather_breaker_failures, settings.weather_breaker_reset_s)
        if key not in _BREAKERS:
            _BREAKERS[key] = CircuitBreaker(f"weather_{name}", failure_threshold=key[1], reset_timeout_s=key[2])
        return _BREAKERS[key]

    common = {"timeout_s": settings.weather_timeout_s}
    return {
        "weatherapi": WeatherAPIProvider(settings.weatherapi_url, settings.weatherapi_key.get_secret_value(),
                                         breaker=breaker("weatherapi"), **common),
        "open_meteo": OpenMeteoProvider(settings.open_meteo_url, breaker=breaker("open_meteo"), **common),
        "nws": NWSProvider(settings.nws_url, breaker=breaker("nws"), **common),
    }
