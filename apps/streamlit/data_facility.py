"""Data access of the facility page beyond its load: forecast as issued, weather, sheddable load, manual profiles.

Same rules as `data.py`: cached with a TTL, retried once at once, `StoreUnavailable` when a
store cannot answer; every value carries the time it describes or was produced.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
from kafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from apps.api.sheddable import sheddable as plan_sheddable
from apps.streamlit.data import FORECAST_SCHEMA, UTC_TS, StoreUnavailable, _engine, _pg, settings
from sems import forecast_buffer
from sems.manual_forecast import ManualForecastError, profile
from sems.resilience import retry
from sems.weather.chain import ForecastCache

WEATHER_SCHEMA: dict[str, pl.DataType] = {"ts": UTC_TS, "temp_c": pl.Float64(), "humidity_pct": pl.Float64()}


def _utc(rows: list[dict[str, object]], schema: dict[str, pl.DataType], *columns: str) -> pl.DataFrame:
    # psycopg returns aware datetimes in the session's time zone; the UI works in UTC.
    frame = pl.DataFrame(rows, schema={**schema, **{c: pl.Object() for c in columns}}, orient="row")
    return frame.with_columns(
        pl.col(c).map_elements(lambda v: v.astimezone(UTC), return_dtype=UTC_TS) for c in columns)


@st.cache_data(ttl=30, show_spinner=False)
def forecast_band(facility_id: str, hours: int) -> pl.DataFrame:
    """P10/P50/P90 per step from `hours` ago on, each as forecast BEFORE the step began (the newest issue then).

    Past steps therefore show what was really forecast, comparable with the actuals; future steps
    the latest forecast. Columns as `data.FORECAST_SCHEMA`.
    """
    rows = _pg("""SELECT DISTINCT ON (ts) facility_id, ts, p10, p50, p90, source, generated_at FROM load_forecasts
                  WHERE facility_id = :fid AND ts >= now() - make_interval(hours => :hours) AND generated_at <= ts
                  ORDER BY ts, generated_at DESC""", fid=facility_id, hours=int(hours))
    return _utc(rows, FORECAST_SCHEMA, "ts", "generated_at")


def band_coverage(load: pl.DataFrame, band: pl.DataFrame, step_minutes: int) -> tuple[float, int] | None:
    """(share of actual points inside P10-P90 of the step they fall in, points compared), or None without overlap."""
    if not load.height or not band.height:
        return None
    joined = load.sort("ts").join_asof(band.select("ts", "p10", "p90").sort("ts"), on="ts", strategy="backward",
                                       tolerance=timedelta(minutes=step_minutes)).drop_nulls("p10")
    if not joined.height:
        return None
    inside = joined.filter((pl.col("kw") >= pl.col("p10")) & (pl.col("kw") <= pl.col("p90"))).height
    return inside / joined.height, joined.height


@st.cache_data(ttl=30, show_spinner=False)
def weather(facility_id: str) -> dict[str, Any] | None:
    """The facility's newest stored weather forecast (the `weather_forecast` asset's last good one), or None.

    The provider chain keeps it per place under `<state>/weather-cache` (`sems.weather.chain.ForecastCache`):
    `{"provider", "fetched_at", "hourly": frame of ts, temp_c, humidity_pct}`.
    """
    place = _pg("SELECT latitude, longitude FROM facilities WHERE facility_id = :fid", fid=facility_id)
    if not place:
        return None
    try:
        stored = ForecastCache(settings().state / "weather-cache").get(float(str(place[0]["latitude"])),
                                                                        float(str(place[0]["longitude"])))
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise StoreUnavailable(f"weather cache: {exc}"[:200]) from exc
    if stored is None:
        return None
    return {"provider": stored.provider, "fetched_at": stored.fetched_at.astimezone(UTC),
            "hourly": stored.hourly.select(list(WEATHER_SCHEMA)).cast(WEATHER_SCHEMA)}  # type: ignore[arg-type]


def _sheddable_once(facility_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        with _engine().connect() as conn:
            return plan_sheddable(conn, settings(), facility_id, steps)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"PostgreSQL: {str(exc).splitlines()[0][:160]}") from exc


@st.cache_data(ttl=30, show_spinner=False)
def sheddable(facility_id: str) -> dict[str, Any]:
    """The sheddable-load forecast of the latest forecast, computed by the DR planner's rules (`apps.api.sheddable`)."""
    steps = _pg("""SELECT ts, p10, generated_at, source FROM load_forecasts WHERE facility_id = :fid
                   AND generated_at = (SELECT max(generated_at) FROM load_forecasts WHERE facility_id = :fid)
                   ORDER BY ts""", fid=facility_id)
    return retry(lambda: _sheddable_once(facility_id, steps), attempts=2, retry_on=(StoreUnavailable,),
                 base_delay_s=0.1)


def upload_profile(facility_id: str, filename: str, content: bytes) -> str:
    """Store an uploaded CSV as the facility's manual profile (`sems.manual_forecast`); returns what happened.

    Raises `ManualForecastError` with a one-line message naming the file as uploaded.
    """
    name = Path(filename).name or "profile.csv"
    s = settings()
    with tempfile.TemporaryDirectory(prefix="sems-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            rows = profile(path, facility_id, timedelta(minutes=s.forecast_step_minutes))
        except ManualForecastError as exc:
            raise ManualForecastError(str(exc).replace(str(path), name)) from None
    try:
        outcome = forecast_buffer.write(s, rows)
    except (DBAPIError, KafkaError, OSError) as exc:
        raise ManualForecastError(f"{name}: neither PostgreSQL nor the Kafka buffer took it ({exc})"[:300]) from None
    st.cache_data.clear()  # the charts show the new profile on this very rerun
    where = "stored" if outcome.stored else f"buffered in Kafka until PostgreSQL is back ({outcome.error})"
    return (f"{len(rows)} manual steps for {facility_id} from {rows[0]['ts']:%Y-%m-%d %H:%M} to "
            f"{rows[-1]['ts']:%Y-%m-%d %H:%M} UTC {where}.")
