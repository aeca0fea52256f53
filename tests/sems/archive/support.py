"""Seeding one day of readings into the test QuestDB for archive tests, and waiting until QuestDB applied it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import text

from sems.settings import Settings
from sems.stores import postgres
from sems.stores.questdb import query, write_frame
from tests.support import wait_until


def free_day(settings: Settings) -> date:
    """A past day inside the raw TTL that holds no readings yet and predates every registered meter.

    The test stack's QuestDB outlives one run (and other tests write readings too): a random day
    alone collided now and then, and a check then counted another test's rows. Completeness
    expects every meter registered before the day's end, so a day after the fleet was seeded
    would find the demo meters silent; tests that want registered meters add their own.
    """
    fleet_since = _first_registration(settings)
    for _ in range(100):
        day = (datetime.now(UTC) - timedelta(days=random.randint(20, 80))).date()
        if fleet_since is not None and datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) > fleet_since:
            continue
        where = f"ts >= '{day:%Y-%m-%d}T00:00:00Z' AND ts < '{day + timedelta(days=1):%Y-%m-%d}T00:00:00Z'"
        if query(settings, f"SELECT count() AS n FROM readings WHERE {where}")[0]["n"] == 0:
            return day
    raise AssertionError("no free day 20-80 days back before the fleet was registered: recreate the test stack")


def _first_registration(settings: Settings) -> datetime | None:
    engine = postgres.engine(settings)
    try:
        with engine.connect() as conn:
            first: datetime | None = conn.execute(text("SELECT min(created_at) FROM meters")).scalar()
            return first
    finally:
        engine.dispose()


def contract_kw(settings: Settings, facility: str) -> float:
    """The contract demand of a facility of the seeded fleet."""
    engine = postgres.engine(settings)
    try:
        with engine.connect() as conn:
            return float(conn.execute(text("SELECT contract_demand_kw FROM facilities WHERE facility_id = :f"),
                                      {"f": facility}).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def registered_meters(settings: Settings, facility: str, since: dict[str, datetime]) -> Iterator[float]:
    """Register meters of `facility` (meter id -> registration time) for one test; yields the facility's contract kW."""
    engine = postgres.engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO meters (meter_id, facility_id, kind, created_at) "
                              "VALUES (:m, :f, 'electricity', :at)"),
                         [{"m": meter, "f": facility, "at": at} for meter, at in since.items()])
        yield contract_kw(settings, facility)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM meters WHERE meter_id = ANY(:ids)"), {"ids": list(since)})
        engine.dispose()


def readings_of_day(day: date, meters: list[str], facility: str = "fac-001", step_s: int = 15) -> pl.DataFrame:
    """A full day of 15 s readings per meter: constant 10 kW, cumulative kWh rising."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ts = pl.datetime_range(start, start + timedelta(days=1) - timedelta(seconds=step_s), f"{step_s}s",
                           eager=True, time_unit="us")
    frames = [
        pl.DataFrame({"ts": ts}).with_columns(
            facility_id=pl.lit(facility), meter_id=pl.lit(meter), kw=pl.lit(10.0),
            kwh=pl.int_range(0, ts.len()).cast(pl.Float64) * (10.0 * step_s / 3600), seq=pl.int_range(0, ts.len()),
        )
        for meter in meters
    ]
    return pl.concat(frames)


def rows_on(settings: Settings, day: date) -> int:
    lo = f"{day}T00:00:00.000000Z"
    hi = f"{day + timedelta(days=1)}T00:00:00.000000Z"
    return int(query(settings, f"SELECT count() AS n FROM readings WHERE ts >= '{lo}' AND ts < '{hi}'")[0]["n"])


def seed(settings: Settings, frame: pl.DataFrame, day: date) -> int:
    """Write `frame` (rows of `day`) and wait until QuestDB applied it; returns the day's row count."""
    before = rows_on(settings, day)
    write_frame(settings, "readings", frame)
    return wait_until(lambda: rows_on(settings, day) >= before + frame.height and rows_on(settings, day),
                      timeout_s=60, what="seeded readings applied")
