"""Scoring a day's day-ahead forecasts against metered load, with real PostgreSQL and QuestDB."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
import pytest
from dagster import AssetCheckSeverity
from sqlalchemy import text

from assets.forecast_accuracy import evaluate
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import Settings
from sems.stores.questdb import write_frame
from tests.support import wait_until

STEP = timedelta(minutes=15)


@pytest.fixture
def facility(settings: Settings) -> Iterator[str]:
    """A facility of this test only (the FK of load_forecasts holds; nobody else scores it)."""
    facility_id = f"score-{uuid.uuid4().hex[:8]}"
    db = PostgresResource.from_settings(settings)
    with db.transaction() as conn:
        conn.execute(text("INSERT INTO facilities (facility_id, name, country, timezone, latitude, longitude, "
                          "contract_demand_kw) VALUES (:f, 'scoring test', 'US', 'UTC', 40, -74, 500)"),
                     {"f": facility_id})
    yield facility_id
    with db.transaction() as conn:
        conn.execute(text("DELETE FROM load_forecasts WHERE facility_id = :f"), {"f": facility_id})
        conn.execute(text("DELETE FROM facilities WHERE facility_id = :f"), {"f": facility_id})


def _day() -> date:
    """A past day no other test writes rollups for (archive tests use 20-80 days back), within the TTL."""
    return datetime.now(UTC).date() - timedelta(days=random.randint(120, 600))


def _actual(i: int) -> float:
    return 200.0 + 50.0 * (i % 8)


def _issue(settings: Settings, facility_id: str, generated_at: datetime, p50_offset: float, miss_every: int) -> None:
    """A 24 h forecast issued at `generated_at`: p50 = measured + offset; every `miss_every`-th band misses it."""
    first = generated_at.replace(minute=generated_at.minute - generated_at.minute % 15, second=0, microsecond=0)
    rows = []
    for k in range(96):
        ts = first + k * STEP
        day_start = datetime.combine(ts.date(), time(), tzinfo=UTC)
        actual = _actual(int((ts - day_start) / STEP))
        low = min(actual + (5 if k % miss_every == 0 else -5), actual + p50_offset)
        rows.append({"f": facility_id, "ts": ts, "g": generated_at, "p10": low, "p50": actual + p50_offset,
                     "p90": actual + p50_offset + 20})
    with PostgresResource.from_settings(settings).transaction() as conn:
        conn.execute(text("INSERT INTO load_forecasts (facility_id, ts, generated_at, p10, p50, p90, model_version, "
                          "source, data_quality_score) VALUES (:f, :ts, :g, :p10, :p50, :p90, 'test', 'model', 1)"),
                     rows)


def _meter(settings: Settings, facility_id: str, day: date) -> None:
    start = datetime.combine(day, time(), tzinfo=UTC)
    frame = pl.DataFrame({"ts": [start + i * STEP for i in range(96)], "facility_id": facility_id,
                          "kw_avg": [_actual(i) for i in range(96)]})
    write_frame(settings, "facility_load_15m", frame)
    questdb = QuestDBResource.from_settings(settings)
    wait_until(lambda: questdb.query(f"SELECT count() AS n FROM facility_load_15m WHERE facility_id = '{facility_id}'"
                                     )[0]["n"] == 96, timeout_s=60, what="metered quarter-hours visible")


def test_the_day_ahead_forecast_is_scored_and_a_bad_band_warns(settings: Settings, facility: str) -> None:
    day = _day()
    start = datetime.combine(day, time(), tzinfo=UTC)
    _meter(settings, facility, day)
    # Only the newest forecast issued before midnight counts: the older and the later one are far off.
    _issue(settings, facility, start - timedelta(hours=12), p50_offset=400, miss_every=1000)
    _issue(settings, facility, start - timedelta(minutes=10), p50_offset=10, miss_every=5)
    _issue(settings, facility, start + timedelta(hours=6), p50_offset=-150, miss_every=1000)
    db, qdb = PostgresResource.from_settings(settings), QuestDBResource.from_settings(settings)

    result = evaluate(db, qdb, day, [facility])

    meta: dict[str, Any] = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    mean = sum(_actual(i) for i in range(95)) / 95
    assert meta["scored_steps"] == 95  # issued at 23:50: its steps from 00:00 to 23:30 fall on the day
    assert meta["cv_rmse"] == pytest.approx(10 / mean, abs=1e-4)
    assert meta["nmbe"] == pytest.approx(-10 / mean, abs=1e-4)
    assert meta["coverage_p10_p90"] == pytest.approx(76 / 95)  # steps 1..95 of the issue, every 5th missed
    assert meta["mean_lead_h"] == pytest.approx((10 + 47 * 15) / 60, abs=0.01)  # 10 min + the mean of 0..94 steps
    assert set(meta["by_source"]) == {"model"} and list(meta["worst_facilities"]) == [facility]
    assert result.passed and result.severity == AssetCheckSeverity.WARN

    # Re-issued just before midnight with a band that misses the measured load: coverage 0, the check warns.
    _issue(settings, facility, start - timedelta(minutes=5), p50_offset=10, miss_every=1)
    result = evaluate(db, qdb, day, [facility])
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "P10-P90 coverage 0.000 outside" in str(result.metadata["reason"])


def test_a_day_without_a_day_ahead_forecast_warns(settings: Settings, facility: str) -> None:
    day = _day()
    _meter(settings, facility, day)
    _issue(settings, facility, datetime.combine(day, time(), tzinfo=UTC) + timedelta(hours=1), 10, 5)

    result = evaluate(PostgresResource.from_settings(settings), QuestDBResource.from_settings(settings), day,
                      [facility])

    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "nothing to score" in str(result.metadata["reason"]) and result.metadata["scored_steps"].value == 0
