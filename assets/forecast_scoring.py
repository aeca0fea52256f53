"""Issued day-ahead forecasts of past days joined with their metered load: what scoring and calibration read.

"Day-ahead" = per facility and UTC day, the newest forecast issued in the 24 h before the
day began (what peak shaving and DR planned on); its steps inside the day are joined with
the measured 15-minute load of `facility_load_15m` (QuestDB). The accuracy check scores
yesterday (`assets.forecast_accuracy`); `load_forecast` recalibrates the champion's band
from its own scored forecasts of the last week (`band_margin`, `ml.conformal`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import xgboost as xgb
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ml.conformal import MIN_DAYS, issued_margin
from ml.quantile import QuantileModel
from pipelines.resources import PostgresResource, QuestDBResource

LOOKBACK_DAYS = 7  # where the margin's latest scored days are looked for: past public holidays and gaps
SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "facility_id": pl.String, "ts": pl.Datetime("us", "UTC"), "p10": pl.Float64, "p50": pl.Float64,
    "p90": pl.Float64, "source": pl.String, "model_version": pl.String, "raw_p10": pl.Float64,
    "raw_p90": pl.Float64, "band_margin": pl.Float64, "generated_at": pl.Datetime("us", "UTC")}
# Per facility and day the newest issue is one probe of the index (facility_id, generated_at DESC),
# and its rows another, rather than a scan of every forecast issued that day (one per 15 minutes).
_DAY_AHEAD = """
    WITH issued AS (
        SELECT fac.facility_id, d.day, (
            SELECT max(f.generated_at) FROM load_forecasts f WHERE f.facility_id = fac.facility_id
            AND f.generated_at < d.day AND f.generated_at >= d.day - interval '1 day') AS generated_at
        FROM facilities fac CROSS JOIN generate_series(CAST(:start AS timestamptz),
            CAST(:last AS timestamptz), interval '1 day') AS d(day) {only})
    SELECT f.facility_id, f.ts, f.p10, f.p50, f.p90, f.source, f.model_version, f.raw_p10, f.raw_p90,
        f.band_margin, f.generated_at
    FROM issued i JOIN load_forecasts f ON f.facility_id = i.facility_id AND f.generated_at = i.generated_at
    WHERE f.ts >= i.day AND f.ts < i.day + interval '1 day'
"""


def day_ahead(postgres: PostgresResource, start: datetime, days: int, facilities: list[str] | None = None
              ) -> pl.DataFrame:
    """`SCHEMA` rows: the day-ahead forecast of each facility (all, or `facilities`) for `days` days from `start`."""
    only = "WHERE fac.facility_id = ANY(:facilities)" if facilities is not None else ""
    with postgres.transaction() as conn:
        rows = conn.execute(text(_DAY_AHEAD.format(only=only)), {
            "start": start, "last": start + timedelta(days=days - 1), "facilities": facilities}).mappings().all()
    return pl.DataFrame([dict(r) for r in rows], schema=SCHEMA)


def measured(questdb: QuestDBResource, start: datetime, days: int) -> pl.DataFrame:
    """facility_id, ts, kw: the metered mean load per quarter-hour of `days` days from `start`."""
    rows = questdb.query(
        f"SELECT facility_id, ts, kw_avg AS kw FROM facility_load_15m WHERE ts >= '{start:%Y-%m-%dT%H:%M:%S}.000000Z'"
        f" AND ts < '{start + timedelta(days=days):%Y-%m-%dT%H:%M:%S}.000000Z'")
    schema = {"facility_id": pl.String, "ts": pl.String, "kw": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC"))


def scored_day_ahead(postgres: PostgresResource, questdb: QuestDBResource, start: datetime, days: int,
                     facilities: list[str] | None = None) -> pl.DataFrame:
    """The day-ahead forecasts of `days` days from `start` with their metered load `kw` (steps without it left out)."""
    return day_ahead(postgres, start, days, facilities).join(measured(questdb, start, days), on=["facility_id", "ts"])


def recent_scores(postgres: PostgresResource, questdb: QuestDBResource, issued_at: datetime) -> pl.DataFrame:
    """The day-ahead forecasts of the last `LOOKBACK_DAYS` whole UTC days with their metered load (empty if unknown)."""
    today = issued_at.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        return scored_day_ahead(postgres, questdb, today - timedelta(days=LOOKBACK_DAYS), LOOKBACK_DAYS)
    except DBAPIError:
        return pl.DataFrame()  # PostgreSQL down: the champion's stored margin serves until it is back


def band_margin(booster: xgb.Booster, version: str, scored: pl.DataFrame, facilities: pl.DataFrame, issued_at: datetime
                ) -> tuple[float, str]:
    """(margin, which): from the champion's own scored day-ahead forecasts, else the margin it was trained with.

    Only this version's forecasts count: the scores measure its raw band, not a predecessor's.
    """
    today = issued_at.replace(hour=0, minute=0, second=0, microsecond=0)
    own = scored.filter((pl.col("source") == "model") & (pl.col("model_version") == version)) if scored.height \
        else scored
    rolled = issued_margin(own, facilities, today)
    if rolled is None:
        days = own["ts"].dt.date().n_unique() if own.height else 0
        return QuantileModel(booster).margin, (f"stored cqr_margin of {version}: {days} day(s) of its forecasts "
                                               f"scored, {MIN_DAYS} needed")
    return rolled[0], f"rolling: {rolled[1]} scored days of {version}"
