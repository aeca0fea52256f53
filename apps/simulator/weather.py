"""Outdoor temperature for the simulated facilities: the pvlib TMY years of `sems.weather.replay`, per instant.

A facility gets the TMY station nearest to it (`nearest_station`, as the forecasting
`training_set` does), and an instant gets that station's temperature for the same month,
day and UTC hour of its typical year, interpolated linearly to the next hour so 15 s
readings do not step once an hour. Same station, same calendar mapping as the replay
provider: the simulated load and the weather the model trains on are related as in the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sems.weather.replay import nearest_station, station_year

HOURS = 365 * 24
_NON_LEAP = 2025  # the typical year has no 29 February; that day reads 28 February (as the replay provider)


@lru_cache(maxsize=8)
def hourly_temperatures(station: str) -> tuple[float, ...]:
    """The station's typical year as 8760 UTC hours from 1 January 00:00, gaps filled from the previous hour."""
    frame, _, _ = station_year(station)
    by_key = {(m, d, h): t for m, d, h, t in frame.select("month", "day", "hour", "temp_c").iter_rows()}
    values: list[float] = []
    for index in range(HOURS):
        at = datetime.fromtimestamp(datetime(_NON_LEAP, 1, 1, tzinfo=UTC).timestamp() + index * 3600, UTC)
        value = by_key.get((at.month, at.day, at.hour))
        values.append(float(value) if value is not None else (values[-1] if values else float(frame["temp_c"][0])))
    return tuple(values)


@lru_cache(maxsize=1024)
def station_for(latitude: float, longitude: float) -> str:
    return nearest_station(latitude, longitude)


def temperature_c(station: str, at: datetime) -> float:
    """The station's temperature at `at` (any aware datetime), interpolated between its hours."""
    utc = at.astimezone(UTC)
    day = utc.timetuple().tm_yday
    if utc.month > 2 and _is_leap(utc.year):
        day -= 1  # 1 March of a leap year is day 61; the typical year's 1 March is day 60
    elif utc.month == 2 and utc.day == 29:
        day -= 1  # 29 February reads 28 February
    position = (day - 1) * 24 + utc.hour + (utc.minute * 60 + utc.second) / 3600
    year = hourly_temperatures(station)
    low = int(position) % HOURS
    fraction = position - int(position)
    return year[low] + fraction * (year[(low + 1) % HOURS] - year[low])


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
