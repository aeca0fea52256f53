"""Day-ahead forecasts from a trained quantile booster: the live counterpart of the backtest.

Feature rows are built exactly as in training (`ml.features.build`) for the next horizon;
the booster gives normalised P10/P50/P90, its band widened by the conformal margin the
caller measured on recent days (`ml.conformal.rolling_margin`) or else the one the booster
carries (`ml.quantile`; none for older champions), scaled back to kW. Each row keeps its
raw band and the margin it was issued with (`raw_p10`, `raw_p90`, `band_margin`), so the
next margin can be measured. The quality score starts at 1
and loses up to half for missing load lags (a facility with little history) and 0.2 when
the weather is a cached, older forecast.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import xgboost as xgb

from ml import features
from ml.fallback import forecast_steps
from ml.quantile import QuantileModel

LAGS = ["lag_1d", "lag_7d", "lag_14d", "lag_21d", "lag_28d"]
CACHED_WEATHER_PENALTY = 0.2


def model_forecast(
    booster: xgb.Booster, history: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame,
    issued_at: datetime, *, horizon: timedelta, step: timedelta, margin: float | None = None,
) -> pl.DataFrame:
    """facility_id, ts, p10, p50, p90, raw_p10, raw_p90, band_margin, source, data_quality_score (with weather).

    `margin`: the band's conformal widening (normalised load); None: the one stored in the booster.
    `history`: facility_id, ts, kw; `weather`: facility_id, ts (hourly), temp_c, humidity_pct
    and optionally age_s (seconds since the weather forecast was fetched).
    """
    covered = sorted(set(weather["facility_id"]) & set(facilities["facility_id"])) if weather.height else []
    if not covered:
        return pl.DataFrame()
    steps = forecast_steps(covered, issued_at, horizon, step)
    rows = features.build(steps, history.drop_nulls("kw"), weather, facilities)
    rows = rows.filter(pl.col("temp_c").is_not_null())  # a step beyond the weather horizon is not forecast
    scored = QuantileModel(booster).predict(rows, margin)
    missing_lags = pl.mean_horizontal(*(pl.col(c).is_null().cast(pl.Float64) for c in LAGS))
    stale = weather.group_by("facility_id").agg(
        stale=(pl.col("age_s").max() > 0) if "age_s" in weather.columns else pl.lit(False))
    return scored.join(stale, on="facility_id", how="left").with_columns(
        source=pl.lit("model"),
        data_quality_score=(1.0 - 0.5 * missing_lags
                            - pl.when(pl.col("stale")).then(CACHED_WEATHER_PENALTY).otherwise(0.0)).clip(0.0, 1.0),
    ).select("facility_id", "ts", "p10", "p50", "p90", "raw_p10", "raw_p90", "band_margin", "source",
             "data_quality_score")
