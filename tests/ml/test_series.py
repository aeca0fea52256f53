"""Cleaning a user's series: DST in naive and aware timestamps, junk, duplicates, gaps, irregular spacing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from ml.series import load_series, weather_series
from ml.timestamps import SeriesError
from tests.ml.userdata import load_lines, local_wall_clock, weather_lines, write_csv

QUARTER = timedelta(minutes=15)
GAP = timedelta(hours=2)


def _kw(frame: pl.DataFrame, at: datetime) -> float:
    return float(frame.filter(pl.col("ts") == at)["kw"][0])


def test_naive_local_autumn_hour_is_taken_in_file_order(tmp_path: Path) -> None:
    start = datetime(2025, 10, 19, 22, tzinfo=UTC)  # local midnight (CEST); Berlin falls back on Oct 26
    times = list(local_wall_clock(start, 14, QUARTER, "Europe/Berlin"))
    lines = load_lines(times)
    write_csv(str(tmp_path / "load.csv"), "ts,kw", lines)

    load, report = load_series(tmp_path / "load.csv", "Europe/Berlin", max_gap=GAP)

    repeated = [i for i, t in enumerate(times) if times.count(t) == 2]
    assert len(repeated) == 8 and report.ambiguous_local_times == 8 and report.dst_transitions == 1
    assert report.timestamps == "naive local Europe/Berlin" and report.resolution == "15min"
    assert report.slots == 14 * 96 and report.gaps_filled == report.gaps_left == 0 == report.duplicates_dropped
    # 02:00 local on the first pass is 00:00 UTC, on the second 01:00 UTC; each keeps its own reading.
    first, second = repeated[0], repeated[4]
    assert _kw(load, datetime(2025, 10, 26, 0, tzinfo=UTC)) == float(lines[first].split(",")[1])
    assert _kw(load, datetime(2025, 10, 26, 1, tzinfo=UTC)) == float(lines[second].split(",")[1])


def test_naive_local_spring_hour_that_does_not_exist_is_rejected(tmp_path: Path) -> None:
    start = datetime(2025, 3, 23, 23, tzinfo=UTC)  # Berlin springs forward on Mar 30
    times = list(local_wall_clock(start, 14, QUARTER, "Europe/Berlin"))
    write_csv(str(tmp_path / "load.csv"), "ts,kw", [*load_lines(times), "2025-03-30 02:30:00,77"])

    load, report = load_series(tmp_path / "load.csv", "Europe/Berlin", max_gap=GAP)

    assert report.rows_rejected == {"timestamp_nonexistent_local": 1} and report.dst_transitions == 1
    assert report.slots == 14 * 96 and report.gaps_left == 0 and 77.0 not in load["kw"].to_list()
    assert load["ts"].diff().drop_nulls().unique().to_list() == [QUARTER]


def test_junk_duplicates_and_gaps_are_counted_and_short_gaps_interpolated(tmp_path: Path) -> None:
    start = datetime(2025, 6, 2, tzinfo=UTC)
    times = [start + i * QUARTER for i in range(7 * 96)]
    values = [float(v.split(",")[1]) for v in load_lines(times)]
    short, long = set(range(100, 104)), set(range(300, 324))  # 1 h (filled) and 6 h (left)
    lines = [f"{t:%Y-%m-%dT%H:%M:%SZ},{v}" for i, (t, v) in enumerate(zip(times, values, strict=True))
             if i not in short | long]
    junk = ["yesterday,5", f"{times[5]:%Y-%m-%dT%H:%M:%SZ},n/a", f"{times[6]:%Y-%m-%dT%H:%M:%SZ},",
            f"{times[7]:%Y-%m-%dT%H:%M:%SZ},-4", ",12", f"{times[10]:%Y-%m-%dT%H:%M:%SZ},999"]
    write_csv(str(tmp_path / "load.csv"), "ts,kw", lines + junk)

    load, report = load_series(tmp_path / "load.csv", "UTC", max_gap=GAP)

    assert report.rows_rejected == {"timestamp_missing": 1, "timestamp_unparseable": 1, "kw_not_a_number": 2,
                                    "kw_negative": 1}
    assert report.duplicates_dropped == 1 and _kw(load, times[10]) == 999.0  # the later row wins
    assert report.gaps_filled == len(short) and report.gaps_left == len(long) and report.slots == len(times)
    assert _kw(load, times[101]) == pytest.approx(values[99] + (values[104] - values[99]) * 2 / 5)
    assert load.filter(pl.col("ts").is_in([times[i] for i in long]))["kw"].null_count() == len(long)


def test_irregular_aware_readings_are_averaged_per_quarter_hour(tmp_path: Path) -> None:
    rng = random.Random(5)
    berlin = ZoneInfo("Europe/Berlin")
    at, readings = datetime(2025, 10, 20, tzinfo=UTC), []
    while at < datetime(2025, 11, 1, tzinfo=UTC):
        readings.append((at, rng.uniform(10, 20)))
        at += timedelta(seconds=rng.uniform(120, 480))
    write_csv(str(tmp_path / "load.csv"), "ts,kw", [f"{t.astimezone(berlin).isoformat()},{v}" for t, v in readings])

    load, report = load_series(tmp_path / "load.csv", "UTC", max_gap=GAP)

    assert report.timestamps == "tz-aware" and report.dst_transitions == 1 and report.resolution == "15min"
    assert report.irregular_intervals > len(readings) // 2 and 120 <= report.median_spacing_s <= 480
    slot = datetime(2025, 10, 26, 1, 15, tzinfo=UTC)
    inside = [v for t, v in readings if slot <= t < slot + QUARTER]
    assert _kw(load, slot) == pytest.approx(sum(inside) / len(inside))


def test_coarser_series_go_hourly_and_daily_ones_are_refused(tmp_path: Path) -> None:
    start = datetime(2025, 6, 2, tzinfo=UTC)
    half_hourly = [start + i * timedelta(minutes=30) for i in range(96)]
    write_csv(str(tmp_path / "load.csv"), "ts,kw", load_lines(half_hourly))
    _, report = load_series(tmp_path / "load.csv", "UTC", max_gap=GAP)
    assert report.resolution == "60min" and report.slots == 48

    write_csv(str(tmp_path / "daily.csv"), "ts,kw", load_lines([start + timedelta(days=d) for d in range(9)]))
    with pytest.raises(SeriesError, match="median spacing 24.0 h is coarser than 1 h"):
        load_series(tmp_path / "daily.csv", "UTC", max_gap=GAP)


def test_parquet_weather_with_timestamps_and_without_humidity(tmp_path: Path) -> None:
    start = datetime(2025, 6, 2, tzinfo=UTC)
    times = [start + timedelta(hours=3 * i) for i in range(16)]  # 3-hourly: resampled hourly, filled
    temps = [float(line.split(",")[1]) for line in weather_lines(times)]
    pl.DataFrame({"ts": times, "temp_c": temps}).write_parquet(tmp_path / "weather.parquet")

    weather, report = weather_series(tmp_path / "weather.parquet", "UTC", max_gap=timedelta(hours=6))

    assert report.timestamps == "tz-aware" and report.resolution == "60min" and report.slots == 46
    assert report.gaps_filled == 30 and weather["humidity_pct"].null_count() == 46
    assert weather.filter(pl.col("ts") == times[1] + timedelta(hours=1))["temp_c"][0] == pytest.approx(
        temps[1] + (temps[2] - temps[1]) / 3)
