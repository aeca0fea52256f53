"""Rolling-origin day-ahead backtest of the quantile model against two baselines.

The series is split at `train_end`: the model is fitted on what came before; every day
after is one forecast origin (midnight UTC) forecasting its 96 quarter-hours. Because all
load features look back at least 24 h (see `ml.features`), the day-ahead forecast of each
origin uses only what was known at that origin. Weather is the observed (or replayed)
weather, i.e. a perfect weather forecast: the backtest measures the load model, not the
weather service. The model's band is recalibrated per origin as live (`ml.conformal`): its
margin comes from the scores of the latest scored days before the origin, first the
calibration slice of `ml.quantile.train`, then the origins already forecast, every one out
of sample for the model that was scored. Baselines: seasonal naive (same slot last week)
and the fallback of the review (same weekday and slot, mean of the past four weeks); their
P10/P90 bands come from the quantiles of their own errors on the training period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from ml import features
from ml.conformal import rolling_margin
from ml.metrics import scores
from ml.quantile import QuantileModel, scored, train

METHODS = ("model", "seasonal_naive", "four_week_average")


@dataclass
class BacktestResult:
    metrics: dict[str, dict[str, float]]  # method -> scores
    predictions: pl.DataFrame  # facility_id, ts, kw, and <method>_p10/_p50/_p90
    model: QuantileModel
    train_end: datetime
    origins: int
    margins: pl.DataFrame  # origin, band_margin (normalised load), days (scored days it came from)


def baseline_medians(load: pl.DataFrame, steps: pl.DataFrame, facilities: pl.DataFrame) -> pl.DataFrame:
    """steps + seasonal_naive and four_week_average medians (normalised), from 1..4 weeks earlier."""
    y = features.normalised_load(load, facilities)
    rows = steps.select("facility_id", "ts")
    for week in range(1, 5):
        shifted = (pl.col("ts") + timedelta(weeks=week)).alias("ts")
        lagged = y.select("facility_id", shifted, pl.col("y").alias(f"w{week}"))
        rows = rows.join(lagged, on=["facility_id", "ts"], how="left")
    return rows.select(
        "facility_id", "ts", pl.col("w1").alias("seasonal_naive"),
        pl.mean_horizontal("w1", "w2", "w3", "w4").alias("four_week_average"),  # the weeks that exist
    )


def _with_bands(rows: pl.DataFrame, method: str, train_end: datetime) -> pl.DataFrame:
    """p10/p90 of a baseline = median + the 10th/90th percentile of its normalised training errors."""
    errors = rows.filter(pl.col("ts") < train_end).select((pl.col("y") - pl.col(method)).alias("e")).drop_nulls()
    low = float(errors["e"].quantile(0.1) or 0.0) if errors.height else 0.0
    high = float(errors["e"].quantile(0.9) or 0.0) if errors.height else 0.0
    scale = pl.col("contract_demand_kw")
    return rows.with_columns(
        (pl.col(method) * scale).alias(f"{method}_p50"),
        ((pl.col(method) + min(low, 0.0)) * scale).alias(f"{method}_p10"),
        ((pl.col(method) + max(high, 0.0)) * scale).alias(f"{method}_p90"),
    )


def recalibrated(model: QuantileModel, rows: pl.DataFrame, origins: list[datetime]
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(forecasts of each origin's day, margins): each day's band from the scores known at its origin.

    Scores of public holidays are left out, as in the calibration slice (one holiday's errors
    would widen every ordinary day's band). With too few scored days the stored margin is used.
    """
    known = [model.calibration_scores.select("ts", "score")] if model.calibration_scores.height else []
    forecasts, margins = [], []
    for origin in origins:
        day = rows.filter((pl.col("ts") >= origin) & (pl.col("ts") < origin + timedelta(days=1)))
        rolled = rolling_margin(pl.concat(known), origin) if known else None
        margin, days = rolled if rolled is not None else (model.margin, 0)
        forecasts.append(model.predict(day, margin))
        margins.append({"origin": origin, "band_margin": margin, "days": days})
        ordinary = day.filter(pl.col("is_holiday") == 0).drop_nulls("y")
        if ordinary.height:
            known.append(scored(model, ordinary).select("ts", "score"))
    return pl.concat(forecasts), pl.DataFrame(margins)


def run(
    load: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame, *,
    train_days: int, rounds: int = 200, params: dict[str, Any] | None = None, calibration_days: int = 7,
) -> BacktestResult:
    """Train on the first `train_days` days, forecast each following whole day; scores per method.

    The model's band is calibrated on the last `calibration_days` of the training days
    (`ml.quantile.train`) and then, per origin, on the days forecast before it
    (`recalibrated`), never on the day it is scored on.
    """
    load = load.drop_nulls("kw").sort("facility_id", "ts")
    first: datetime = load["ts"].min().replace(hour=0, minute=0, second=0, microsecond=0)  # type: ignore
    train_end = first + timedelta(days=train_days)
    last_day: datetime = load["ts"].max().replace(hour=0, minute=0, second=0, microsecond=0)  # type: ignore
    if last_day <= train_end:
        raise ValueError(f"no whole day after the {train_days} training days to backtest on")
    rows = features.build(load, load, weather, facilities)
    model = train(rows.filter(pl.col("ts") < train_end), rounds=rounds, calibration_days=calibration_days,
                  **(params or {}))
    origins = [train_end + timedelta(days=d) for d in range((last_day - train_end).days)]
    forecasts, margins = recalibrated(model, rows, origins)
    baselines = rows.join(baseline_medians(load, rows, facilities), on=["facility_id", "ts"], how="left")
    for method in METHODS[1:]:
        baselines = _with_bands(baselines, method, train_end)
    model_band = forecasts.select("facility_id", "ts", *(pl.col(q).alias(f"model_{q}") for q in ("p10", "p50", "p90")))
    test = baselines.join(model_band, on=["facility_id", "ts"]).sort("facility_id", "ts").with_columns(
        kw=pl.col("y") * pl.col("contract_demand_kw"))
    metrics = {m: scores(test.select("kw", *(pl.col(f"{m}_{q}").alias(q) for q in ("p10", "p50", "p90"))))
               for m in METHODS}
    keep = ["facility_id", "ts", "kw"] + [f"{m}_{q}" for m in METHODS for q in ("p10", "p50", "p90")]
    return BacktestResult(metrics, test.select(keep), model, train_end, len(origins), margins)


def promotion(candidate: dict[str, dict[str, float]], champion: dict[str, float] | None) -> tuple[bool, str]:
    """Whether the candidate may become champion: lower CV(RMSE) and pinball than both baselines and the champion."""
    mine = candidate["model"]
    rivals = {m: candidate[m] for m in METHODS[1:]}
    if champion is not None:
        rivals["champion"] = champion
    losses = [f"{name} ({metric} {rival[metric]:.4f} <= {mine[metric]:.4f})"
              for name, rival in rivals.items() for metric in ("cv_rmse", "pinball")
              if metric in rival and rival[metric] <= mine[metric]]
    if losses:
        return False, "not promoted: does not beat " + ", ".join(losses)
    return True, "promoted: beats " + ", ".join(rivals) + " on CV(RMSE) and pinball loss"
