"""Offline weather: replay of the typical meteorological years (TMY) that pvlib ships.

Three real stations (Miami FL, Greensboro NC, Sand Point AK): a hot, a temperate and a
cold climate. A place gets the nearest station; an hour gets that station's value for the
same month, day and UTC hour of its typical year (29 February reads 28 February). It is
the default where no network is configured and the weather of training and backtests.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import polars as pl

from sems.weather.model import SCHEMA, hourly_frame

# (file, reader, temperature column, temperature scale, humidity column)
STATIONS = {
    "miami": ("12839.tm2", "tmy2", "DryBulb", 0.1, "RHum"),
    "greensboro": ("723170TYA.CSV", "tmy3", "temp_air", 1.0, "relative_humidity"),
    "sand_point": ("703165TY.csv", "tmy3", "temp_air", 1.0, "relative_humidity"),
}


def _data_dir() -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data"


@lru_cache(maxsize=len(STATIONS))
def station_year(station: str) -> tuple[pl.DataFrame, float, float]:
    """(hourly frame keyed by month/day/hour UTC, latitude, longitude) of one TMY station."""
    from pvlib.iotools import read_tmy2, read_tmy3

    file, kind, temp, scale, humidity = STATIONS[station]
    path = _data_dir() / file
    data, meta = read_tmy2(str(path)) if kind == "tmy2" else read_tmy3(str(path), map_variables=True)
    utc = data.index.tz_convert("UTC")
    frame = pl.DataFrame({
        "month": utc.month.to_numpy(), "day": utc.day.to_numpy(), "hour": utc.hour.to_numpy(),
        "temp_c": data[temp].to_numpy() * scale, "humidity_pct": data[humidity].to_numpy().astype(float),
    }).with_columns(pl.col("month", "day", "hour").cast(pl.Int8)).unique(["month", "day", "hour"], keep="first")
    return frame, float(meta["latitude"]), float(meta["longitude"])


def nearest_station(latitude: float, longitude: float) -> str:
    """The TMY station closest to the place (great-circle distance)."""

    def distance(station: str) -> float:
        _, lat, lon = station_year(station)
        p1, p2, dl = math.radians(latitude), math.radians(lat), math.radians(longitude - lon)
        return math.acos(max(-1.0, min(1.0, math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))))

    return min(STATIONS, key=distance)


class ReplayProvider:
    """The TMY replay as a provider (never fails, never needs the network)."""

    name = "replay"

    def __init__(self, station: str | None = None) -> None:
        self.station = station  # None: nearest to each requested place

    def hourly(self, latitude: float, longitude: float, hours: int) -> pl.DataFrame:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return self.between(latitude, longitude, start, start + timedelta(hours=hours + 1))

    def between(self, latitude: float, longitude: float, start: datetime, end: datetime) -> pl.DataFrame:
        """Hourly rows for [start, end) (UTC-aware datetimes)."""
        year, _, _ = station_year(self.station or nearest_station(latitude, longitude))
        hours = int((end - start).total_seconds() // 3600)
        ts = [start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=i) for i in range(max(hours, 1))]
        keys = pl.DataFrame({"ts": ts}).with_columns(
            month=pl.col("ts").dt.month().cast(pl.Int8),
            day=pl.when((pl.col("ts").dt.month() == 2) & (pl.col("ts").dt.day() == 29))
            .then(28).otherwise(pl.col("ts").dt.day()).cast(pl.Int8),
            hour=pl.col("ts").dt.hour().cast(pl.Int8),
        )
        rows = keys.join(year, on=["month", "day", "hour"], how="left").sort("ts")
        # A TMY year can lack an hour after the UTC shift at year end: carry the neighbour over.
        rows = rows.with_columns(pl.col("temp_c", "humidity_pct").forward_fill().backward_fill())
        frame = hourly_frame(rows["ts"].to_list(), rows["temp_c"].to_list(), rows["humidity_pct"].to_list())
        return frame.select(list(SCHEMA))
