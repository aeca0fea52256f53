"""The review's fallback forecast: same weekday and slot, mean of the past four weeks, wider bands.

Used when there is no champion model, MLflow cannot be reached, or there is no weather:
forecasting keeps running but says so (`source='fallback'`, lower `data_quality_score`).
Bands come from the errors the same rule made on the history, widened by `widening`;
with too few errors, from the spread of the history itself, widened as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

WEEKS = 4
MIN_ERRORS = 8
# Least half-width of the band, as a fraction of the facility's mean load, before widening: with a few
# minutes of history (a fresh stack) the spread is ~0, and a fallback must never claim certainty.
MIN_BAND = 0.1


def forecast_steps(facility_ids: list[str], issued_at: datetime, horizon: timedelta, step: timedelta) -> pl.DataFrame:
    """facility_id, ts for every step of the horizon, from the slot containing `issued_at`."""
    start = pl.Series([issued_at]).cast(pl.Datetime("us", "UTC")).dt.truncate(step)[0]
    ts = pl.datetime_range(start, start + horizon - step, step, time_unit="us", time_zone="UTC", eager=True)
    return pl.DataFrame({"facility_id": facility_ids}).join(pl.DataFrame({"ts": ts}), how="cross")


def _weekly_mean(history: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """steps + p50 = mean load of the same slot 1..4 weeks earlier (the weeks that exist)."""
    rows = steps
    for week in range(1, WEEKS + 1):
        lagged = history.select("facility_id", (pl.col("ts") + timedelta(weeks=week)).alias("ts"),
                                pl.col("kw").alias(f"w{week}"))
        rows = rows.join(lagged, on=["facility_id", "ts"], how="left")
    return rows.with_columns(p50=pl.mean_horizontal(*(f"w{w}" for w in range(1, WEEKS + 1)))).drop(
        *(f"w{w}" for w in range(1, WEEKS + 1)))


def _bands(history: pl.DataFrame, widening: float) -> pl.DataFrame:
    """Per facility: low/high offsets (widened error quantiles of the rule on its own history) and its mean."""
    fitted = _weekly_mean(history, history.select("facility_id", "ts")).join(
        history.select("facility_id", "ts", "kw"), on=["facility_id", "ts"])
    errors = fitted.select("facility_id", (pl.col("kw") - pl.col("p50")).alias("e")).drop_nulls()
    spread = history.select("facility_id", (pl.col("kw") - pl.col("kw").mean().over("facility_id")).alias("e"))
    enough = errors.group_by("facility_id").len().filter(pl.col("len") >= MIN_ERRORS)["facility_id"]
    source = pl.concat([errors.filter(pl.col("facility_id").is_in(enough)),
                        spread.filter(~pl.col("facility_id").is_in(enough))])
    floor = pl.col("mean").abs() * MIN_BAND * widening
    return source.group_by("facility_id").agg(
        low=(pl.col("e").quantile(0.1).clip(upper_bound=0.0) * widening),
        high=(pl.col("e").quantile(0.9).clip(lower_bound=0.0) * widening),
    ).join(history.group_by("facility_id").agg(mean=pl.col("kw").mean()), on="facility_id").with_columns(
        low=pl.min_horizontal("low", -floor), high=pl.max_horizontal("high", floor),
    )


def four_week_average(
    history: pl.DataFrame, facility_ids: list[str], issued_at: datetime, *,
    horizon: timedelta, step: timedelta, widening: float, quality: float,
) -> pl.DataFrame:
    """facility_id, ts, p10, p50, p90, source='fallback', data_quality_score for facilities with history.

    `history` has facility_id, ts (UTC, on the step grid) and kw. A slot with no load in
    any of the four weeks takes the facility's mean load (and half the quality).
    """
    history = history.drop_nulls("kw").filter(pl.col("facility_id").is_in(facility_ids))
    known = sorted(set(history["facility_id"]))
    if not known:
        return pl.DataFrame()
    rows = _weekly_mean(history, forecast_steps(known, issued_at, horizon, step)).join(
        _bands(history, widening), on="facility_id", how="left")
    return rows.with_columns(
        data_quality_score=pl.when(pl.col("p50").is_null()).then(quality / 2).otherwise(quality),
        p50=pl.coalesce("p50", "mean").clip(lower_bound=0.0),
    ).with_columns(
        p10=(pl.col("p50") + pl.col("low").fill_null(0.0)).clip(lower_bound=0.0),
        p90=pl.col("p50") + pl.col("high").fill_null(0.0),
        source=pl.lit("fallback"),
    ).select("facility_id", "ts", "p10", "p50", "p90", "source", "data_quality_score")
