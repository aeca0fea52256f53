"""Seasonal naive on synthetic histories: exact values, the fallback rules, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from ml.baselines import MODEL_VERSION, QUALITY, resample, seasonal_naive

STEP = timedelta(minutes=15)
ISSUED = datetime(2025, 6, 9, 0, 7, tzinfo=UTC)  # a Monday, 7 minutes into a slot


def history(start: datetime, slots: int, kw: list[float] | None = None) -> pl.DataFrame:
    """One value per 15-minute slot from `start`; by default kw = slot index (no two slots alike)."""
    return pl.DataFrame(
        {
            "ts": [start + i * STEP for i in range(slots)],
            "kw": kw if kw is not None else [float(i) for i in range(slots)],
        }
    )


def test_full_week_repeats_last_week_slot_by_slot() -> None:
    week = history(ISSUED.replace(minute=0) - timedelta(days=7), 7 * 96)
    forecast = seasonal_naive(week, ISSUED)
    assert forecast.height == 96
    assert forecast["ts"][0] == datetime(2025, 6, 9, 0, 0, tzinfo=UTC)
    assert forecast["ts"][-1] == datetime(2025, 6, 9, 23, 45, tzinfo=UTC)
    # Slot i of the forecast day is slot i of the same weekday a week ago: kw = i.
    assert forecast["p50"].to_list() == [float(i) for i in range(96)]
    assert set(forecast["source"]) == {"model"}
    assert set(forecast["data_quality_score"]) == {QUALITY["week"]}
    # Under two weeks: the band comes from the day-lag errors, which are exactly +96 kW here.
    assert (forecast["p90"] - forecast["p50"]).to_list() == [96.0] * 96
    assert (forecast["p50"] - forecast["p10"]).to_list() == [0.0] * 96


def test_periodic_history_gives_a_zero_width_band() -> None:
    daily = [100.0 + (i % 96) for i in range(14 * 96)]
    forecast = seasonal_naive(history(ISSUED.replace(minute=0) - timedelta(days=14), 14 * 96, daily), ISSUED)
    assert forecast["p50"].to_list() == [100.0 + i for i in range(96)]
    assert forecast["p10"].to_list() == forecast["p50"].to_list() == forecast["p90"].to_list()


def test_two_days_fall_back_to_yesterday_with_lower_quality() -> None:
    two_days = history(ISSUED.replace(minute=0) - timedelta(days=2), 2 * 96)
    forecast = seasonal_naive(two_days, ISSUED)
    assert forecast["p50"].to_list() == [96.0 + i for i in range(96)]
    assert set(forecast["source"]) == {"fallback"}
    assert set(forecast["data_quality_score"]) == {QUALITY["day"]}
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()


def test_a_few_hours_fall_back_to_the_mean() -> None:
    hours = history(datetime(2025, 6, 8, 21, 0, tzinfo=UTC), 12, [10.0, 20.0] * 6)
    forecast = seasonal_naive(hours, ISSUED)
    # Until 21:00 nothing is known of the same slot a day or a week before: the mean of history.
    assert forecast["p50"].to_list()[:84] == [15.0] * 84
    assert set(forecast["rule"][:84]) == {"mean"}
    assert set(forecast["data_quality_score"][:84]) == {QUALITY["mean"]}
    assert forecast["p10"][0] < 15.0 < forecast["p90"][0]
    # From 21:00 yesterday's slots exist again.
    assert forecast["p50"].to_list()[84:] == [10.0, 20.0] * 6
    assert set(forecast["source"]) == {"fallback"}


def test_resample_averages_minutes_into_slots_and_reads_naive_ts_as_utc() -> None:
    minutes = pl.DataFrame({"ts": [datetime(2025, 6, 9, 0, m) for m in range(30)], "kw": [float(m) for m in range(30)]})
    slots = resample(minutes, STEP)
    assert slots["kw"].to_list() == [7.0, 22.0]
    assert slots["ts"].dtype == pl.Datetime("us", "UTC")


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no load history"):
        seasonal_naive(pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "kw": pl.Float64}), ISSUED)
    with pytest.raises(ValueError, match="must be a datetime"):
        seasonal_naive(pl.DataFrame({"ts": ["2025-06-09"], "kw": [1.0]}), ISSUED)
    with pytest.raises(ValueError, match="missing"):
        seasonal_naive(pl.DataFrame({"ts": [ISSUED]}), ISSUED)
    with pytest.raises(ValueError, match="timezone-aware"):
        seasonal_naive(history(ISSUED, 4), ISSUED.replace(tzinfo=None))
    assert MODEL_VERSION == "seasonal-naive-v1"
