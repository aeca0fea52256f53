"""Features of a quarter-hour step of a facility's load, all known one day ahead.

Every load-derived feature looks back at least 24 h (same slot yesterday, same slot last
week, rolling statistics of the day ending 24 h earlier), so one feature row serves any
forecast issued within the day before the step: the day-ahead backtest needs no leakage
guard per origin. Loads are divided by the facility's contract demand so one global model
serves facilities of any size; predictions are multiplied back.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import holidays
import polars as pl

STEP = timedelta(minutes=15)
COMFORT_LOW_C, COMFORT_HIGH_C = 16.0, 22.0  # degree-hours are counted outside this band
FEATURES = [
    "lag_1d", "lag_7d", "lag_14d", "lag_21d", "lag_28d", "avg_4w", "roll_mean_1d", "roll_max_1d", "roll_std_7d",
    "hour", "weekday", "is_weekend", "is_holiday",
    "temp_c", "humidity_pct", "cooling_dh", "heating_dh", "cooling_dh_x_avg_4w", "heating_dh_x_avg_4w",
    "contract_demand_kw", "latitude",
]
FACILITY_COLUMNS = ["facility_id", "country", "timezone", "contract_demand_kw", "latitude"]
LAGS = ((1, "lag_1d"), (7, "lag_7d"), (14, "lag_14d"), (21, "lag_21d"), (28, "lag_28d"))


def normalised_load(load: pl.DataFrame, facilities: pl.DataFrame) -> pl.DataFrame:
    """facility_id, ts, y (= kw / contract demand) for facilities that are known."""
    return load.join(facilities.select("facility_id", "contract_demand_kw"), on="facility_id").select(
        "facility_id", "ts", (pl.col("kw") / pl.col("contract_demand_kw")).alias("y")
    )


def _lagged(y: pl.DataFrame, days: int, name: str) -> pl.DataFrame:
    return y.select("facility_id", (pl.col("ts") + timedelta(days=days)).alias("ts"), pl.col("y").alias(name))


def _rolling(y: pl.DataFrame) -> pl.DataFrame:
    """Statistics of the day (and week) ending at each slot, moved forward 24 h so they are known."""
    stats = y.sort("facility_id", "ts").with_columns(
        roll_mean_1d=pl.col("y").rolling_mean_by("ts", "1d").over("facility_id"),
        roll_max_1d=pl.col("y").rolling_max_by("ts", "1d").over("facility_id"),
        roll_std_7d=pl.col("y").rolling_std_by("ts", "7d").over("facility_id"),
    )
    return stats.select("facility_id", (pl.col("ts") + timedelta(days=1)).alias("ts"),
                        "roll_mean_1d", "roll_max_1d", "roll_std_7d")


@lru_cache(maxsize=64)
def _holiday_dates(country: str, first: int, last: int) -> frozenset[object]:
    return frozenset(holidays.country_holidays(country, years=range(first, last + 1)))


def calendar(steps: pl.DataFrame, facilities: pl.DataFrame) -> pl.DataFrame:
    """Local hour, weekday, weekend and public holiday of each step, in its facility's time zone.

    One pass per (country, time zone), not per facility: a fleet of thousands shares a few zones.
    """
    zones = facilities.select("facility_id", "country", "timezone")
    tagged = steps.join(zones, on="facility_id", how="left")
    parts = []
    for (country, timezone), own in tagged.group_by("country", "timezone"):
        if country is None or timezone is None:
            continue
        local = own.with_columns(local=pl.col("ts").dt.convert_time_zone(str(timezone)))
        years = local["local"].dt.year()
        days = _holiday_dates(str(country), int(years.min()), int(years.max()))  # type: ignore[arg-type]
        parts.append(local.with_columns(
            hour=pl.col("local").dt.hour() + pl.col("local").dt.minute() / 60,
            weekday=pl.col("local").dt.weekday(),
            is_weekend=(pl.col("local").dt.weekday() >= 6).cast(pl.Int8),
            is_holiday=pl.col("local").dt.date().is_in(list(days)).cast(pl.Int8),
            **{f"_holiday_{lag}": (pl.col("local").dt.date() - timedelta(days=d)).is_in(list(days))
               for d, lag in LAGS},
        ).drop("local", "country", "timezone"))
    return pl.concat(parts) if parts else steps


def weather_at(rows: pl.DataFrame, weather: pl.DataFrame) -> pl.DataFrame:
    """rows + temp_c, humidity_pct: hourly weather interpolated linearly to each step's minute.

    Temperature moves by degrees within an hour in the morning; carrying the hour's value to
    its four quarter-hours put that error into the HVAC term. Two joins (the hour and the
    next), no upsampling, so hourly training rows cost no more than before. The last hour of
    the weather, without a next one, is carried.
    """
    hourly = weather.select("facility_id", pl.col("ts").dt.truncate("1h"), "temp_c", "humidity_pct").unique(
        ["facility_id", "ts"], keep="last")
    following = hourly.select("facility_id", pl.col("ts") - timedelta(hours=1),
                              pl.col("temp_c").alias("temp_next"), pl.col("humidity_pct").alias("humidity_next"))
    keyed = rows.with_columns(_hour=pl.col("ts").dt.truncate("1h"))
    joined = keyed.join(hourly.rename({"ts": "_hour"}), on=["facility_id", "_hour"], how="left").join(
        following.rename({"ts": "_hour"}), on=["facility_id", "_hour"], how="left")
    share = (pl.col("ts") - pl.col("_hour")).dt.total_minutes() / 60
    return joined.with_columns(
        temp_c=pl.col("temp_c") + share * (pl.col("temp_next") - pl.col("temp_c")).fill_null(0.0),
        humidity_pct=pl.col("humidity_pct") + share * (pl.col("humidity_next") - pl.col("humidity_pct")).fill_null(0.0),
    ).drop("_hour", "temp_next", "humidity_next")


def _usual_load(rows: pl.DataFrame) -> pl.DataFrame:
    """Lags that fell on a public holiday left out (missing), then the 4-week mean and its HVAC interactions.

    The Monday after a Monday holiday otherwise inherits the holiday's low load through
    lag_7d and the 4-week mean (the backtest's worst day, by far, before this).
    """
    flags = [f"_holiday_{lag}" for _, lag in LAGS]
    if all(f in rows.columns for f in flags):
        rows = rows.with_columns(pl.when(pl.col(f"_holiday_{lag}")).then(None).otherwise(pl.col(lag)).alias(lag)
                                 for _, lag in LAGS).drop(flags)
    # The review's fallback (same weekday, four-week mean) as a feature: the model starts from it.
    return rows.with_columns(avg_4w=pl.mean_horizontal("lag_7d", "lag_14d", "lag_21d", "lag_28d")).with_columns(
        # HVAC draws more when the building is in use: degree-hours times the slot's usual load.
        cooling_dh_x_avg_4w=pl.col("cooling_dh") * pl.col("avg_4w"),
        heating_dh_x_avg_4w=pl.col("heating_dh") * pl.col("avg_4w"),
    )


def build(steps: pl.DataFrame, load: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame) -> pl.DataFrame:
    """Feature rows for `steps` (facility_id, ts): FEATURES plus facility_id and ts (and y where known)."""
    y = normalised_load(load, facilities)
    rows = steps.select("facility_id", "ts")
    for days, name in LAGS:
        rows = rows.join(_lagged(y, days, name), on=["facility_id", "ts"], how="left")
    rows = rows.join(_rolling(y), on=["facility_id", "ts"], how="left")
    rows = weather_at(rows, weather).with_columns(
        cooling_dh=(pl.col("temp_c") - COMFORT_HIGH_C).clip(lower_bound=0),
        heating_dh=(COMFORT_LOW_C - pl.col("temp_c")).clip(lower_bound=0),
    ).join(facilities.select("facility_id", "contract_demand_kw", "latitude"), on="facility_id", how="left")
    rows = _usual_load(calendar(rows, facilities.select(FACILITY_COLUMNS)))
    return rows.join(y, on=["facility_id", "ts"], how="left").sort("facility_id", "ts")
