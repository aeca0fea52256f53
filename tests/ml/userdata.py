"""Load and weather series as a user's logger would write them: local wall-clock time, a weekly rhythm.

The load follows working hours and heating degree-hours of the temperature, plus noise,
so a model that uses weather and the calendar has something to learn.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def temperature(at: datetime) -> float:
    day = at.timetuple().tm_yday
    return 10 + 8 * math.sin(2 * math.pi * (day - 110) / 365) + 5 * math.sin(2 * math.pi * (at.hour - 9) / 24) \
        + 4 * math.sin(day * 1.7)


def kw(at: datetime, rng: random.Random) -> float:
    working = at.weekday() < 5 and 8 <= at.hour < 18
    return 40 + (90 if working else 15) + 3 * max(0.0, 16 - temperature(at)) + rng.gauss(0, 3)


def local_wall_clock(start_utc: datetime, days: int, step: timedelta, zone: str) -> Iterator[datetime]:
    """Naive local times of every UTC step, so the autumn hour repeats and the spring hour is skipped."""
    tz = ZoneInfo(zone)
    at = start_utc
    while at < start_utc + timedelta(days=days):
        yield at.astimezone(tz).replace(tzinfo=None)
        at += step


def write_csv(path: str, header: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(header + "\n" + "\n".join(lines) + "\n")


def load_lines(times: list[datetime], seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [f"{t:%Y-%m-%d %H:%M:%S},{kw(t, rng):.3f}" for t in times]


def weather_lines(times: list[datetime]) -> list[str]:
    return [f"{t:%Y-%m-%d %H:%M:%S},{temperature(t):.2f},{60 + 20 * math.sin(t.hour):.1f}" for t in times]
