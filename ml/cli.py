"""`sems ml backtest --load FILE --weather FILE`: the forecaster's backtest on anyone's data, as one JSON object.

The load (`ts`, `kw`) and weather (`ts`, `temp_c`, optionally humidity) files are cleaned
by `ml.series` (what was done is part of the output), the model is trained on the first
`--train-days` whole UTC days and the rest is backtested day-ahead, origin by origin,
against the seasonal-naive and four-week-average baselines (`ml.backtest`). A file that
cannot be used ends with one `error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from ml import backtest
from ml.series import load_series, weather_series
from ml.timestamps import SeriesError, zone

app = typer.Typer(help="Load forecasting model: backtests on your own data.", no_args_is_help=True)
SERIES = "series"
MIN_TRAIN_DAYS = 7  # the seasonal-naive baseline needs last week


def _facility(load: pl.DataFrame, train_end_kw: pl.Series, country: str, timezone: str,
              latitude: float) -> pl.DataFrame:
    """The one facility of a user's series; its peak training load scales the target like a contract demand."""
    peak = float(train_end_kw.max() or 0.0)  # type: ignore[arg-type]
    if peak <= 0:
        raise SeriesError("the training part of the load is zero everywhere: nothing to learn")
    return pl.DataFrame({"facility_id": [SERIES], "country": [country], "timezone": [timezone],
                         "contract_demand_kw": [peak], "latitude": [latitude], "longitude": [0.0]})


def _train_days(load: pl.DataFrame, asked: int | None) -> tuple[int, int]:
    """(training days, whole days in the series): by default two thirds of the days train."""
    first, last = load["ts"].min(), load["ts"].max()
    days = (last.date() - first.date()).days  # type: ignore[union-attr]
    train = asked if asked is not None else max(MIN_TRAIN_DAYS, days * 2 // 3)
    if train < MIN_TRAIN_DAYS:
        raise SeriesError(f"--train-days {train} is too short: the baselines need at least {MIN_TRAIN_DAYS} days")
    if days <= train:
        raise SeriesError(f"the load covers {days} whole days after its first midnight (UTC); training on {train} "
                          f"leaves no whole day to backtest (need at least {train + 1})")
    return train, days


def evaluate(load_file: Path, weather_file: Path, *, horizon_hours: int, train_days: int | None, timezone: str,
             country: str, latitude: float, max_gap_hours: float, rounds: int) -> dict[str, Any]:
    """The JSON object `sems ml backtest` prints."""
    if not 1 <= horizon_hours <= 24:
        raise SeriesError(f"--horizon-hours {horizon_hours}: the model forecasts day-ahead, 1 to 24 hours")
    zone(timezone)
    max_gap = timedelta(hours=max_gap_hours)
    load, load_report = load_series(load_file, timezone, max_gap=max_gap)
    weather, weather_report = weather_series(weather_file, timezone, max_gap=max(max_gap, timedelta(hours=6)))
    hours = weather.drop_nulls("temp_c")["ts"].implode()
    overlap = load.drop_nulls("kw").filter(pl.col("ts").dt.truncate("1h").is_in(hours))
    if overlap.is_empty():
        raise SeriesError(f"the weather ({weather_report.start} .. {weather_report.end}) does not overlap the load "
                          f"({load_report.start} .. {load_report.end})")
    train, days = _train_days(load, train_days)
    first: datetime = load["ts"].min()  # type: ignore[assignment]
    first_midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
    facility = _facility(load, load.filter(pl.col("ts") < first_midnight + timedelta(days=train))["kw"],
                         country, timezone, latitude)
    result = backtest.run(load.with_columns(facility_id=pl.lit(SERIES)),
                          weather.with_columns(facility_id=pl.lit(SERIES)), facility, train_days=train, rounds=rounds)
    return {
        "load": load_report.as_dict(), "weather": weather_report.as_dict(),
        "weather_coverage": round(overlap.height / max(load.drop_nulls("kw").height, 1), 4),
        "train": {"start": str(first_midnight), "end": str(result.train_end), "days": train},
        "backtest": {"origins": result.origins, "days_in_series": days, "horizon_hours": horizon_hours,
                     "origin": "midnight UTC, every day",
                     "note": "every load feature is at least 24 h old, so any horizon up to 24 h gets the same "
                             "forecasts; weather is the file's (a perfect weather forecast)"},
        "metrics": result.metrics,
        "baselines": {"seasonal_naive": "same time last week",
                      "four_week_average": "same weekday and time, mean of the past 4 weeks (the fallback)"},
    }


@app.command("backtest")
def backtest_command(
    load: Annotated[Path, typer.Option("--load", help="CSV or Parquet with ts and kw (hourly or finer).")],
    weather: Annotated[Path, typer.Option("--weather", help="CSV or Parquet with ts and temp_c (humidity optional).")],
    horizon_hours: Annotated[int, typer.Option(help="Forecast horizon from each origin, 1-24 h.")] = 24,
    train_days: Annotated[int | None, typer.Option(help="Whole days to train on (default: two thirds).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone of naive timestamps and of the calendar.")] = "UTC",
    country: Annotated[str, typer.Option(help="Country whose public holidays are features (ISO code).")] = "US",
    latitude: Annotated[float, typer.Option(help="Latitude of the site.")] = 0.0,
    max_gap_hours: Annotated[float, typer.Option(help="Longest gap filled by interpolation.")] = 2.0,
    rounds: Annotated[int, typer.Option(help="Boosting rounds.")] = 200,
) -> None:
    """Train on the first part, backtest day-ahead on the rest; print model and baseline metrics as JSON."""
    try:
        report = evaluate(load, weather, horizon_hours=horizon_hours, train_days=train_days, timezone=timezone,
                          country=country, latitude=latitude, max_gap_hours=max_gap_hours, rounds=rounds)
    except (SeriesError, ValueError, NotImplementedError, KeyError) as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report))
