"""What every weather provider returns: hourly UTC rows of temperature and humidity, and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

SCHEMA = {"ts": pl.Datetime("us", "UTC"), "temp_c": pl.Float64, "humidity_pct": pl.Float64}


class WeatherError(Exception):
    """A provider failed: unreachable, slow, an HTTP error or an answer that is not a forecast."""


class WeatherUnavailable(WeatherError):
    """Every provider failed and no cached forecast is young enough."""


@dataclass(frozen=True)
class WeatherForecast:
    """Hourly weather at one place, who delivered it and when it was fetched."""

    provider: str
    fetched_at: datetime
    hourly: pl.DataFrame  # SCHEMA columns, sorted by ts
    cached: bool = False

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.fetched_at).total_seconds())


def hourly_frame(ts: list[datetime], temp_c: list[float], humidity_pct: list[float | None]) -> pl.DataFrame:
    """Validated provider rows: UTC, sorted, deduplicated, temperatures physically plausible."""
    if not ts:
        raise WeatherError("forecast has no hourly rows")
    if not (len(ts) == len(temp_c) == len(humidity_pct)):
        raise WeatherError(f"hourly arrays differ in length: {len(ts)}, {len(temp_c)}, {len(humidity_pct)}")
    try:
        frame = pl.DataFrame({"ts": ts, "temp_c": temp_c, "humidity_pct": humidity_pct}, strict=False)
        frame = frame.with_columns(
            pl.col("ts").dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC")),
            pl.col("temp_c").cast(pl.Float64),
            pl.col("humidity_pct").cast(pl.Float64),
        )
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise WeatherError(f"forecast rows are not timestamps and numbers: {exc}") from exc
    if frame["temp_c"].null_count() or not frame["temp_c"].is_between(-90, 60).all():
        raise WeatherError("forecast has missing or implausible temperatures")
    return frame.unique("ts", keep="last").sort("ts").select(list(SCHEMA))
