"""`sems bench forecast`: the forecaster's accuracy per TMY climate and its speed at fleet scale, on simulator load.

Accuracy: for each of the three climates whose TMY files pvlib ships (Miami, Greensboro,
Sand Point), a few facilities at the station draw what `apps.simulator.facility_model`
says (its public API: the sum of `meter_kw` per quarter-hour, meter noise included);
weather is the TMY replay the training asset uses. The rolling-origin day-ahead backtest
(`ml.backtest`) scores one global model, per-facility models and both baselines.

Speed: a fleet of `--fleet` facilities (replicas of the three stations' noise-free
`load_kw` curves, each with its own size and noise) with `--train-days` of hourly history:
the time to build features and train, then the time of one forecast cycle (features of the
next 24 h at 15 minutes from 29 days of quarter-hourly history, prediction) for the fleet.
ml/ may not import apps/, so this lives in pipelines/ (as the DR bench does).
"""

from __future__ import annotations

import json
import random
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer

from apps.simulator.facility_model import FacilityModel
from ml import backtest, features
from ml.metrics import scores
from ml.predict import model_forecast
from ml.quantile import MAX_TRAINING_ROWS, train
from sems.facilities import Facility
from sems.weather.replay import ReplayProvider, station_year

CLIMATES = {"miami": "America/New_York", "greensboro": "America/New_York", "sand_point": "America/Anchorage"}
SIZES = (650.0, 900.0, 1200.0)  # contract demand of the facilities of a climate (kW)
STEP = timedelta(minutes=15)


def climate_fleet(climate: str, count: int) -> list[Facility]:
    """`count` facilities at the TMY station of `climate`."""
    _, lat, lon = station_year(climate)
    return [Facility(f"{climate}-{i + 1}", f"{climate} site {i + 1}", "US", CLIMATES[climate], lat, lon,
                     SIZES[i % len(SIZES)], tuple(f"{climate}-{i + 1}-m{m + 1}" for m in range(4)))
            for i in range(count)]


def frame_of(facilities: list[Facility]) -> pl.DataFrame:
    return pl.DataFrame([{"facility_id": f.facility_id, "country": f.country, "timezone": f.timezone,
                          "contract_demand_kw": f.contract_demand_kw, "latitude": f.latitude,
                          "longitude": f.longitude} for f in facilities])


def metered(facilities: list[Facility], start: datetime, days: int, seed: int) -> pl.DataFrame:
    """facility_id, ts, kw per quarter-hour: the sum of the simulator's noisy meter readings."""
    rows = []
    for facility in facilities:
        model = FacilityModel(facility, rng=random.Random(f"{seed}-{facility.facility_id}"))
        for i in range(days * 96):
            at = start + i * STEP
            rows.append((facility.facility_id, at, sum(model.meter_kw(m, at) for m in facility.meter_ids)))
    return pl.DataFrame(rows, schema={"facility_id": pl.String, "ts": pl.Datetime("us", "UTC"), "kw": pl.Float64},
                        orient="row")


def replayed_weather(facilities: list[Facility], since: datetime, until: datetime) -> pl.DataFrame:
    provider = ReplayProvider()
    return pl.concat([provider.between(f.latitude, f.longitude, since, until)
                      .with_columns(facility_id=pl.lit(f.facility_id)) for f in facilities])


def _summary(metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
    better = min(metrics["seasonal_naive"]["cv_rmse"], metrics["four_week_average"]["cv_rmse"])
    model = metrics["model"]
    gain = 1 - model["cv_rmse"] / better
    return {
        **{m: {k: round(v, 4) for k, v in s.items() if k in ("cv_rmse", "nmbe", "coverage_p10_p90", "pinball")}
           for m, s in metrics.items()},
        "cv_rmse_gain_vs_better_baseline": round(gain, 4),
        "targets_met": {"cv_rmse_15pct_better": gain >= 0.15, "abs_nmbe_le_5pct": abs(model["nmbe"]) <= 0.05,
                        "coverage_75_85": 0.75 <= model["coverage_p10_p90"] <= 0.85},
    }


def accuracy(climate: str, *, facilities: int, start: datetime, days: int, train_days: int, rounds: int,
             seed: int, per_facility: bool = True) -> dict[str, Any]:
    """Global model vs baselines for one climate (and vs per-facility models, pooled, if asked)."""
    fleet = climate_fleet(climate, facilities)
    load = metered(fleet, start, days, seed)
    weather = replayed_weather(fleet, start, start + timedelta(days=days))
    attributes = frame_of(fleet)
    started = time.perf_counter()
    global_run = backtest.run(load, weather, attributes, train_days=train_days, rounds=rounds)
    result = {"climate": climate, "facilities": facilities, "days": days, "train_days": train_days,
              "origins": global_run.origins, **_summary(global_run.metrics),
              "calibration": {k: round(v, 4) for k, v in global_run.model.calibration.items()},
              "band_margin_per_origin": [round(m, 4) for m in global_run.margins["band_margin"]]}
    if per_facility:
        own = [backtest.run(load.filter(pl.col("facility_id") == f.facility_id), weather,
                            attributes.filter(pl.col("facility_id") == f.facility_id), train_days=train_days,
                            rounds=rounds).predictions for f in fleet]
        pooled = pl.concat(own).select("kw", pl.col("model_p10").alias("p10"), pl.col("model_p50").alias("p50"),
                                       pl.col("model_p90").alias("p90"))
        result["per_facility_models"] = {k: round(v, 4) for k, v in scores(pooled).items()
                                         if k in ("cv_rmse", "nmbe", "coverage_p10_p90", "pinball")}
    return {**result, "seconds": round(time.perf_counter() - started, 1)}


def fleet_history(count: int, start: datetime, days: int, step: timedelta, seed: int) -> tuple[pl.DataFrame, ...]:
    """(load, weather, facilities) of `count` replicas of the three stations' curves, each sized and noised."""
    templates = {c: climate_fleet(c, 1)[0] for c in CLIMATES}
    steps = int(days * timedelta(days=1) / step)
    stamps = [start + i * step for i in range(steps)]
    curves = {c: np.array([FacilityModel(f).load_kw(t) / f.contract_demand_kw for t in stamps])
              for c, f in templates.items()}
    rng = np.random.default_rng(seed)
    names = list(CLIMATES)
    fleet = [templates[names[i % 3]] for i in range(count)]
    sizes = rng.uniform(300, 1500, count)
    ids = [f"bench-{i:04d}" for i in range(count)]
    kw = np.concatenate([curves[names[i % 3]] * sizes[i] * (1 + rng.normal(0, 0.03, steps)) for i in range(count)])
    naive = np.array([s.replace(tzinfo=None) for s in stamps], dtype="datetime64[us]")
    load = pl.DataFrame({"facility_id": np.repeat(ids, steps), "ts": np.tile(naive, count), "kw": kw}).with_columns(
        pl.col("ts").dt.replace_time_zone("UTC"))
    attributes = pl.DataFrame({"facility_id": ids, "country": "US", "timezone": [f.timezone for f in fleet],
                               "contract_demand_kw": sizes, "latitude": [f.latitude for f in fleet],
                               "longitude": [f.longitude for f in fleet]})
    by_climate = {c: replayed_weather([templates[c]], start, start + timedelta(days=days + 1)).drop("facility_id")
                  for c in CLIMATES}
    weather = pl.concat([by_climate[names[i % 3]].with_columns(facility_id=pl.lit(ids[i])) for i in range(count)])
    return load, weather, attributes


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def speed(count: int, days: int, rounds: int, seed: int) -> dict[str, Any]:
    """Seconds to train on `count` facilities x `days` hourly, and of one 24 h forecast cycle for them.

    Training is what `load_forecaster` does (features, the calibration fit, the final fit);
    the cycle is what `load_forecast` does: features of 96 quarter-hours per facility from
    29 days of quarter-hourly history and the 24 h weather forecast, then the prediction.
    """
    start = datetime(2025, 1, 6, tzinfo=UTC)
    load, weather, attributes = fleet_history(count, start, days, timedelta(hours=1), seed)
    generated_mib = _peak_rss_mib()
    began = time.perf_counter()
    rows = features.build(load, load, weather, attributes)
    built = time.perf_counter()
    training_rows = rows.height
    model = train(rows, rounds=rounds)
    trained = time.perf_counter()
    training_mib = _peak_rss_mib()
    issued_at = start + timedelta(days=days - 1)
    recent, _, _ = fleet_history(count, issued_at - timedelta(days=29), 29, STEP, seed + 1)
    ahead = weather.filter(pl.col("ts").is_between(issued_at - timedelta(hours=1), issued_at + timedelta(hours=25)))
    del load, weather, rows
    cycle_start = time.perf_counter()
    forecast = model_forecast(model.booster, recent, ahead, attributes, issued_at, horizon=timedelta(hours=24),
                              step=STEP)
    cycle = time.perf_counter() - cycle_start
    return {"facilities": count, "train_days_hourly": days, "training_rows": training_rows,
            "fitted_rows": model.rows, "max_training_rows": MAX_TRAINING_ROWS,
            "rounds": rounds, "nthread": model.params["nthread"], "features_s": round(built - began, 1),
            "train_s": round(trained - built, 1), "features_and_train_s": round(trained - began, 1),
            "target_train_s": 600, "forecast_cycle_s": round(cycle, 1), "forecast_rows": forecast.height,
            "target_cycle_s": 30, "peak_rss_mib_after_generation": round(generated_mib),
            "peak_rss_mib_after_training": round(training_mib), "peak_rss_mib": round(_peak_rss_mib())}


def forecast(
    climates: Annotated[str, typer.Option(help="Comma-separated climates, or 'none'.")] = ",".join(CLIMATES),
    facilities: Annotated[int, typer.Option(help="Facilities per climate (accuracy).")] = 3,
    days: Annotated[int, typer.Option(help="Days of quarter-hourly history per climate.")] = 70,
    train_days: Annotated[int, typer.Option(help="Of which the model trains on.")] = 56,
    start: Annotated[str, typer.Option(help="First day (UTC), ISO date.")] = "2025-04-07",
    fleet: Annotated[int, typer.Option(help="Facilities of the speed run (0 = skip).")] = 1000,
    fleet_days: Annotated[int, typer.Option(help="Days of hourly history of the speed run.")] = 365,
    rounds: Annotated[int, typer.Option(help="Boosting rounds.")] = 200,
    seed: Annotated[int, typer.Option()] = 7,
    per_facility: Annotated[bool, typer.Option(help="Also backtest one model per facility (accuracy).")] = True,
) -> None:
    """Model vs baselines per climate (CV(RMSE), |NMBE|, coverage), global vs per-facility; training and cycle speed."""
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    for climate in [c for c in climates.split(",") if c in CLIMATES]:
        typer.echo(json.dumps(accuracy(climate, facilities=facilities, start=first, days=days, train_days=train_days,
                                       rounds=rounds, seed=seed, per_facility=per_facility)))
    if fleet:
        typer.echo(json.dumps({"speed": speed(fleet, fleet_days, rounds, seed)}))
