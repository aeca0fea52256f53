"""Baseline load forecasts: seasonal naive ("same time last week") with honest fallbacks.

Plain functions on polars frames, no orchestration. A forecast step takes, in order of
preference: the load of the same 15-minute slot one week earlier (`source='model'`),
the same slot one day earlier, or the mean of all history (both `source='fallback'`,
with a lower `data_quality_score`). Bands come from the empirical errors of the same rule
on the history itself; with too little history they are widened, never invented narrow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

MODEL_VERSION = "seasonal-naive-v1"
WEEK = timedelta(days=7)
DAY = timedelta(days=1)
# Quality of a step by the rule that produced it: last week's slot is what this model is.
QUALITY = {"week": 1.0, "day": 0.5, "mean": 0.2}
MIN_ERRORS = 8  # fewer past errors than this and the band falls back to the history's own spread
FALLBACK_WIDENING = 1.5


def resample(history: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Mean `kw` per `step`-long slot (`ts` = slot start), sorted; rows with null kw are ignored."""
    missing = {"ts", "kw"} - set(history.columns)
    if missing:
        raise ValueError(f"load history needs columns ts and kw; missing {sorted(missing)}")
    ts = history.schema["ts"]
    if not isinstance(ts, pl.Datetime):
        raise ValueError(f"load history column ts must be a datetime, not {ts}")
    # Naive timestamps are taken as UTC (QuestDB's and PostgreSQL's convention here).
    utc = pl.col("ts").dt.replace_time_zone("UTC") if ts.time_zone is None else pl.col("ts").dt.convert_time_zone("UTC")
    return (
        history.drop_nulls("kw")
        .with_columns(utc.cast(pl.Datetime("us", "UTC")).dt.truncate(step))
        .group_by("ts")
        .agg(pl.col("kw").cast(pl.Float64).mean())
        .sort("ts")
    )


def _lag_errors(load: pl.DataFrame, lag: timedelta) -> pl.Series:
    """Errors y(t) - y(t - lag) of the naive rule with this lag, over the history."""
    lagged = load.with_columns((pl.col("ts") + lag).alias("ts")).rename({"kw": "kw_lagged"})
    joined = load.join(lagged, on="ts", how="inner")
    return joined["kw"] - joined["kw_lagged"]


def _band(errors: pl.Series) -> tuple[float, float] | None:
    """(p10, p90) offsets from the errors, containing 0 so p10 <= p50 <= p90; None if too few errors."""
    if errors.len() < MIN_ERRORS:
        return None
    low, high = errors.quantile(0.1, "linear"), errors.quantile(0.9, "linear")
    return min(0.0, float(low or 0.0)), max(0.0, float(high or 0.0))


def seasonal_naive(
    history: pl.DataFrame,
    issued_at: datetime,
    *,
    horizon: timedelta = timedelta(hours=24),
    step: timedelta = timedelta(minutes=15),
) -> pl.DataFrame:
    """Forecast of one facility's load for `horizon` from the slot containing `issued_at`.

    `history` has `ts` (UTC datetimes) and `kw`; returns one row per step with
    `ts, p10, p50, p90, source, data_quality_score, rule`. Raises ValueError without history.
    """
    load = resample(history, step)
    if load.is_empty():
        raise ValueError("no load history: a forecast needs at least one reading")
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    start = pl.Series([issued_at]).cast(pl.Datetime("us", "UTC")).dt.truncate(step)[0]
    steps = pl.DataFrame({"ts": pl.datetime_range(start, start + horizon - step, step, time_unit="us", eager=True)})
    week = load.with_columns((pl.col("ts") + WEEK).alias("ts")).rename({"kw": "week"})
    day = load.with_columns((pl.col("ts") + DAY).alias("ts")).rename({"kw": "day"})
    mean = float(load["kw"].mean())  # type: ignore[arg-type]
    steps = steps.join(week, on="ts", how="left").join(day, on="ts", how="left").with_columns(
        rule=pl.when(pl.col("week").is_not_null()).then(pl.lit("week"))
        .when(pl.col("day").is_not_null()).then(pl.lit("day"))
        .otherwise(pl.lit("mean")),
        p50=pl.coalesce("week", "day", pl.lit(mean)),
    )
    return _with_bands(steps, load, mean).select(
        "ts", "p10", "p50", "p90", "source", "data_quality_score", "rule"
    )


def _with_bands(steps: pl.DataFrame, load: pl.DataFrame, mean: float) -> pl.DataFrame:
    """Add p10/p90 per rule, source and quality; fallback bands are widened."""
    spread = _band(load["kw"] - mean) or (0.0, 0.0)
    widened = (spread[0] * FALLBACK_WIDENING, spread[1] * FALLBACK_WIDENING)
    bands = {
        # Too few week-lag errors (under two weeks of history): the day-lag errors, then the spread, widened.
        "week": _band(_lag_errors(load, WEEK)) or _band(_lag_errors(load, DAY)) or widened,
        "day": tuple(x * FALLBACK_WIDENING for x in (_band(_lag_errors(load, DAY)) or spread)),
        "mean": widened,
    }
    rules = pl.DataFrame(
        {
            "rule": list(bands),
            "low": [b[0] for b in bands.values()],
            "high": [b[1] for b in bands.values()],
            "data_quality_score": [QUALITY[r] for r in bands],
        }
    )
    return steps.join(rules, on="rule", how="left").with_columns(
        p10=pl.col("p50") + pl.col("low"),
        p90=pl.col("p50") + pl.col("high"),
        source=pl.when(pl.col("rule") == "week").then(pl.lit("model")).otherwise(pl.lit("fallback")),
    )
