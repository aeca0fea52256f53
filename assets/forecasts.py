"""Forecasting assets: 24 h of 15-minute load forecasts per facility, written to PostgreSQL."""

from datetime import UTC, datetime, timedelta

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from sqlalchemy import text

from ml.baselines import MODEL_VERSION, seasonal_naive
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource

# Two weeks and a day: enough for last week's slots and for the errors of that rule.
LOOKBACK = timedelta(days=15)

_INSERT = text("""
    INSERT INTO load_forecasts
        (facility_id, ts, generated_at, p10, p50, p90, model_version, source, data_quality_score)
    VALUES (:facility_id, :ts, :generated_at, :p10, :p50, :p90, :model_version, :source, :data_quality_score)
""")


def load_history(questdb: QuestDBResource, since: datetime, step: timedelta) -> pl.DataFrame:
    """Mean facility load per `step` since `since`, from the 1-minute rollups: facility_id, ts, kw."""
    rows = questdb.query(
        f"SELECT ts, facility_id, avg(kw_avg) AS kw FROM facility_load_1m WHERE ts >= "
        f"'{since:%Y-%m-%dT%H:%M:%S}.000000Z' SAMPLE BY {int(step.total_seconds() // 60)}m ALIGN TO CALENDAR"
    )
    schema = {"ts": pl.String, "facility_id": pl.String, "kw": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC")
    )


def facility_forecasts(
    history: pl.DataFrame, facility_ids: list[str], issued_at: datetime, shape: ForecastingResource
) -> pl.DataFrame:
    """Seasonal-naive forecasts of every facility that has history; the others are left out."""
    frames = []
    for facility_id in facility_ids:
        own = history.filter(pl.col("facility_id") == facility_id)
        if own.is_empty():
            continue
        forecast = seasonal_naive(own, issued_at, horizon=shape.horizon, step=shape.step)
        frames.append(forecast.with_columns(facility_id=pl.lit(facility_id)))
    return pl.concat(frames) if frames else pl.DataFrame()


@asset(group_name="forecasting", kinds={"python", "postgres"})
def load_forecast(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    questdb: QuestDBResource,
    forecasting: ForecastingResource,
) -> MaterializeResult:
    """Next 24 h of quarter-hourly load forecasts per facility (seasonal naive, p10/p50/p90) in PostgreSQL."""
    generated_at = datetime.now(UTC)
    with postgres.transaction() as conn:
        facility_ids = list(conn.execute(text("SELECT facility_id FROM facilities ORDER BY facility_id")).scalars())
    history = load_history(questdb, generated_at - LOOKBACK, forecasting.step)
    forecasts = facility_forecasts(history, facility_ids, generated_at, forecasting)
    without_history = sorted(set(facility_ids) - set(forecasts["facility_id"] if forecasts.height else []))
    if without_history:
        # Nothing is invented for a facility that never reported; it is named here and in the metadata.
        context.log.warning(f"no load history, no forecast for: {', '.join(without_history)}")
    if forecasts.height:
        rows = forecasts.with_columns(
            generated_at=pl.lit(generated_at), model_version=pl.lit(MODEL_VERSION)
        ).drop("rule").to_dicts()
        with postgres.transaction() as conn:
            conn.execute(_INSERT, rows)
    fallback = forecasts.filter(pl.col("source") == "fallback").height if forecasts.height else 0
    return MaterializeResult(
        metadata={
            "generated_at": MetadataValue.timestamp(generated_at),
            "model_version": MODEL_VERSION,
            "facilities_forecast": forecasts["facility_id"].n_unique() if forecasts.height else 0,
            "rows": forecasts.height,
            "fallback_rows": fallback,
            "facilities_without_history": MetadataValue.json(without_history),
        }
    )
