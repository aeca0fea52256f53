"""The provider chain: try each provider in order, cache the last good forecast, report why any failed.

A forecast that covers fewer hours than asked counts as a failure of that provider. When
every provider fails, the last good forecast for the place is served from the cache with
its age (flagged `cached`), until it is older than `weather_cache_max_age_h`; then the
chain raises `WeatherUnavailable` and forecasting falls back to the load-only baseline.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import polars as pl

from sems.resilience import CircuitOpenError
from sems.settings import Settings
from sems.weather.http import http_providers
from sems.weather.model import WeatherError, WeatherForecast, WeatherUnavailable
from sems.weather.replay import ReplayProvider

log = logging.getLogger(__name__)


class Provider(Protocol):
    name: str

    def hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame: ...


class ForecastCache:
    """Last good forecast per place, as Parquet files (shared by every process of one stack)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, latitude: float, longitude: float) -> Path:
        return self.root / f"{latitude:.3f}_{longitude:.3f}.parquet"

    def put(self, latitude: float, longitude: float, forecast: WeatherForecast) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(latitude, longitude)
        frame = forecast.hourly.with_columns(provider=pl.lit(forecast.provider), fetched_at=pl.lit(forecast.fetched_at))
        frame.write_parquet(path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)  # atomic: a reader never sees half a file

    def get(self, latitude: float, longitude: float) -> WeatherForecast | None:
        path = self._path(latitude, longitude)
        if not path.exists():
            return None
        frame = pl.read_parquet(path)
        return WeatherForecast(str(frame["provider"][0]), frame["fetched_at"][0], frame.drop("provider", "fetched_at"),
                               cached=True)


class WeatherChain:
    """Providers in failover order plus the cache; `failures` holds the reasons of the last call."""

    def __init__(self, providers: list[Provider], cache: ForecastCache, *, max_age: timedelta) -> None:
        self.providers = providers
        self.cache = cache
        self.max_age = max_age
        self.failures: dict[str, str] = {}

    def forecast(self, latitude: float, longitude: float, hours: int, now: datetime | None = None) -> WeatherForecast:
        now = now or datetime.now(UTC)
        self.failures = {}
        for provider in self.providers:
            try:
                hourly = provider.hourly(latitude, longitude, hours)
                _check_covers(hourly, now, hours)
            except (WeatherError, CircuitOpenError) as exc:
                self.failures[provider.name] = str(exc)
                log.warning("weather provider failed", extra={"provider": provider.name, "reason": str(exc)})
                continue
            result = WeatherForecast(provider.name, now, hourly)
            self.cache.put(latitude, longitude, result)
            return result
        cached = self.cache.get(latitude, longitude)
        if cached is not None and cached.age_s(now) <= self.max_age.total_seconds():
            return cached
        reasons = "; ".join(f"{k}: {v}" for k, v in self.failures.items()) or "no providers configured"
        age = f"cached forecast {cached.age_s(now) / 3600:.1f} h old" if cached else "nothing cached"
        raise WeatherUnavailable(f"no weather for ({latitude}, {longitude}): {reasons}; {age}")


def _check_covers(hourly: pl.DataFrame, now: datetime, hours: int) -> None:
    ahead = hourly.filter(pl.col("ts") >= now.replace(minute=0, second=0, microsecond=0)).height
    if ahead < hours:
        raise WeatherError(f"forecast covers {ahead} of {hours} hours ahead")


def chain(settings: Settings) -> WeatherChain:
    """The chain the settings configure (`weather_providers`, in order); unknown names are an error."""
    available: dict[str, Provider] = {**http_providers(settings), "replay": ReplayProvider()}
    unknown = [name for name in settings.weather_providers if name not in available]
    if unknown:
        raise ValueError(f"unknown weather providers {unknown}; known: {sorted(available)}")
    return WeatherChain(
        [available[name] for name in settings.weather_providers],
        ForecastCache(settings.state / "weather-cache"),
        max_age=timedelta(hours=settings.weather_cache_max_age_h),
    )
