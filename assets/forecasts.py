"""The live forecast: 24 h of quarter-hourly P10/P50/P90 per facility, from the champion model or the fallback.

`load_forecast` uses `models:/load_forecaster@champion` for every facility that has
weather, its P10-P90 band recalibrated every day from the champion's day-ahead forecasts
of the last week scored against the meters (`ml.conformal`; the margin it was trained
with until 3 days are scored); without a champion, without MLflow or without weather it
issues the review's fallback (same weekday, 4-week mean) with wider bands,
`source='fallback'` and a lower quality score. Rows go to PostgreSQL, or to the Kafka buffer while PostgreSQL refuses
them; each run first replays what was buffered (`sems.forecast_buffer`).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from assets.forecast_scoring import band_margin, recent_scores
from assets.forecaster import load_champion
from ml.fallback import four_week_average
from ml.predict import model_forecast
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource
from sems import forecast_buffer
from sems.facilities import demo_fleet
from sems.settings import get_settings

FALLBACK_VERSION = "four-week-average-v1"
LOOKBACK = timedelta(days=29)  # the model's oldest lag is 28 days


def load_history(questdb: QuestDBResource, since: datetime, step: timedelta, until: datetime | None = None
                 ) -> pl.DataFrame:
    """Mean facility load per `step` in [since, until), from the 1-minute rollups: facility_id, ts, kw."""
    end = f" AND ts < '{until:%Y-%m-%dT%H:%M:%S}.000000Z'" if until else ""
    rows = questdb.query(
        f"SELECT ts, facility_id, avg(kw_avg) AS kw FROM facility_load_1m WHERE ts >= "
        f"'{since:%Y-%m-%dT%H:%M:%S}.000000Z'{end} SAMPLE BY {int(step.total_seconds() // 60)}m ALIGN TO CALENDAR"
    )
    schema = {"ts": pl.String, "facility_id": pl.String, "kw": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC")
    )


def fleet(postgres: PostgresResource) -> pl.DataFrame:
    """The facilities with the attributes the model uses."""
    with postgres.transaction() as conn:
        rows = conn.execute(text("SELECT facility_id, country, timezone, contract_demand_kw, latitude, longitude "
                                 "FROM facilities ORDER BY facility_id")).mappings().all()
    return pl.DataFrame([dict(r) for r in rows])


def fleet_or_settings(postgres: PostgresResource) -> tuple[pl.DataFrame, str]:
    """(facilities, "" or why PostgreSQL's list was not used): the configured fleet while PostgreSQL is down (C1).

    Forecasting must keep running through an outage (its rows go to the Kafka buffer), so
    the facility list it cannot read comes from the settings the fleet was seeded from.
    """
    try:
        return fleet(postgres), ""
    except DBAPIError as exc:
        settings = get_settings()
        configured = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
        frame = pl.DataFrame([{"facility_id": f.facility_id, "country": f.country, "timezone": f.timezone,
                               "contract_demand_kw": f.contract_demand_kw, "latitude": f.latitude,
                               "longitude": f.longitude} for f in configured])
        return frame, f"PostgreSQL unavailable, configured fleet used: {str(exc.orig or exc).splitlines()[0]}"


def issue(history: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame, issued_at: datetime,
          shape: ForecastingResource, scored: pl.DataFrame | None = None) -> tuple[pl.DataFrame, str, str, str]:
    """(forecast rows incl. model_version, champion version or "", why the fallback was used or "", band margin used).

    `scored`: recent day-ahead forecasts with metered load (`recent_scores`) to recalibrate the band from.
    """
    booster, version, why = load_champion(shape.tracking_uri, shape.model_name)
    modelled, margin_note = pl.DataFrame(), ""
    if booster is not None:
        margin, margin_note = band_margin(booster, version, pl.DataFrame() if scored is None else scored, facilities,
                                          issued_at)
        modelled = model_forecast(booster, history, weather, facilities, issued_at, horizon=shape.horizon,
                                  step=shape.step, margin=margin).with_columns(model_version=pl.lit(version))
        if modelled.is_empty():
            why = "no weather for any facility"
    settings = get_settings()
    rest = [f for f in facilities["facility_id"] if modelled.is_empty() or f not in set(modelled["facility_id"])]
    fallback = four_week_average(history, rest, issued_at, horizon=shape.horizon, step=shape.step,
                                 widening=settings.forecast_fallback_widening,
                                 quality=settings.forecast_fallback_quality)
    if fallback.height:
        fallback = fallback.with_columns(model_version=pl.lit(FALLBACK_VERSION))
    frames = [f for f in (modelled, fallback) if f.height]
    return (pl.concat(frames, how="diagonal") if frames else pl.DataFrame()), version, why, margin_note


def with_overrides(forecasts: pl.DataFrame, postgres: PostgresResource) -> pl.DataFrame:
    """Steps an analyst uploaded a profile for (newest upload wins) keep the manual values."""
    if forecasts.is_empty():
        return forecasts
    try:
        manual = _manual(postgres, forecasts)
    except DBAPIError:
        return forecasts  # PostgreSQL down: nothing to override with now; the rows go to the buffer
    if not manual:
        return forecasts
    frame = pl.DataFrame([dict(r) for r in manual]).with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    kept = forecasts.join(frame.select("facility_id", "ts"), on=["facility_id", "ts"], how="anti")
    return pl.concat([kept, frame.select(forecasts.columns)], how="vertical_relaxed").sort("facility_id", "ts")


def _manual(postgres: PostgresResource, forecasts: pl.DataFrame) -> list[Any]:
    """The newest manual row per (facility, step) within the forecasts' span."""
    with postgres.transaction() as conn:
        return list(conn.execute(text(
            "SELECT DISTINCT ON (facility_id, ts) facility_id, ts, p10, p50, p90, model_version, source, "
            "data_quality_score, raw_p10, raw_p90, band_margin FROM load_forecasts WHERE source = 'manual' "
            "AND ts >= :since AND ts <= :until ORDER BY facility_id, ts, generated_at DESC"),
            {"since": forecasts["ts"].min(), "until": forecasts["ts"].max()}).mappings().all())


@asset(group_name="forecasting", kinds={"python", "postgres", "mlflow"})
def load_forecast(
    context: AssetExecutionContext, postgres: PostgresResource, questdb: QuestDBResource,
    forecasting: ForecastingResource, weather_forecast: pl.DataFrame,
) -> MaterializeResult:
    """Next 24 h of quarter-hourly load forecasts per facility (champion model or fallback) in PostgreSQL."""
    settings = get_settings()
    try:
        replayed = forecast_buffer.replay(settings)  # what an earlier run had to buffer goes first
    except DBAPIError:
        replayed = 0  # PostgreSQL still down: the buffer stays (offsets uncommitted) for the sensor or next run
    generated_at = datetime.now(UTC)
    facilities, fleet_note = fleet_or_settings(postgres)
    if fleet_note:
        context.log.warning(fleet_note)
    history = load_history(questdb, generated_at - LOOKBACK, forecasting.step)
    scored = recent_scores(postgres, questdb, generated_at)
    forecasts, version, why, margin_note = issue(history, weather_forecast, facilities, generated_at, forecasting,
                                                 scored)
    forecasts = with_overrides(forecasts, postgres)
    if why:
        context.log.warning(f"fallback forecast for some or all facilities: {why}")
    if margin_note:
        context.log.info(f"P10-P90 band margin: {margin_note}")
    missing = sorted(set(facilities["facility_id"]) - set(forecasts["facility_id"] if forecasts.height else []))
    if missing:
        # Nothing is invented for a facility that never reported; it is named here and in the metadata.
        context.log.warning(f"no load history, no forecast for: {', '.join(missing)}")
    rows = forecasts.with_columns(generated_at=pl.lit(generated_at)).to_dicts() if forecasts.height else []
    outcome = forecast_buffer.write(settings, rows)
    sources = dict(forecasts.group_by("source").len().rows()) if forecasts.height else {}
    return MaterializeResult(metadata={
        "generated_at": MetadataValue.timestamp(generated_at), "model_version": version or FALLBACK_VERSION,
        "rows": forecasts.height, "rows_by_source": MetadataValue.json(sources), "fallback_reason": why,
        "stored": outcome.stored, "buffered_in_kafka": outcome.buffered, "postgres_error": outcome.error,
        "replayed_from_kafka": replayed, "facilities_without_history": MetadataValue.json(missing),
        "fleet_source": fleet_note or "postgres", "band_margin_source": margin_note,
        **({"band_margin": margin} if (margin := _margin_used(forecasts)) is not None else {}),
    })


def _margin_used(forecasts: pl.DataFrame) -> float | None:
    """The model rows' band margin (normalised load), None without model rows."""
    used = forecasts["band_margin"].drop_nulls() if "band_margin" in forecasts.columns else pl.Series([])
    return float(used[0]) if used.len() else None


@asset_check(asset=load_forecast, description="The newest issued forecast is younger than the staleness limit.")
def forecast_freshness(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    limit = get_settings().forecast_stale_after_min
    with postgres.transaction() as conn:
        newest = conn.execute(text("SELECT max(generated_at) FROM load_forecasts")).scalar()
    age_min = (datetime.now(UTC) - newest).total_seconds() / 60 if newest else float("inf")
    return AssetCheckResult(
        passed=age_min <= limit, severity=AssetCheckSeverity.WARN,
        metadata={"newest_generated_at": str(newest), "age_min": round(age_min, 1) if newest else -1.0,
                  "limit_min": limit},
    )
