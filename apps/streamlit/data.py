"""Data access of the analyst UI: cached reads of QuestDB and PostgreSQL, and the age of a reading.

Every cache has a TTL shorter than the page's refresh, so numbers are never older than
one refresh plus the TTL. A store that cannot be reached raises `StoreUnavailable`,
which the pages show as a banner instead of a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from sems.settings import Settings, get_settings
from sems.stores import postgres, questdb

UTC_TS = pl.Datetime("us", "UTC")
LOAD_SCHEMA: dict[str, pl.DataType] = {"facility_id": pl.String(), "ts": UTC_TS, "kw": pl.Float64()}
FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "facility_id": pl.String(), "ts": UTC_TS, "p10": pl.Float64(), "p50": pl.Float64(),
    "p90": pl.Float64(), "source": pl.String(), "generated_at": UTC_TS,
}


class StoreUnavailable(Exception):
    """A store did not answer; the message names it and why, in one line."""


@st.cache_resource
def settings() -> Settings:
    return get_settings()


@st.cache_resource
def _engine() -> Engine:
    return postgres.engine(settings())


def _pg(sql: str, **params: object) -> list[dict[str, object]]:
    try:
        with _engine().connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"PostgreSQL: {str(exc).splitlines()[0][:160]}") from exc


def _qdb(sql: str) -> list[dict[str, object]]:
    try:
        return questdb.query(settings(), sql)
    except questdb.QuestDBError as exc:
        raise StoreUnavailable(f"QuestDB: {str(exc)[:160]}") from exc


@st.cache_data(ttl=60, show_spinner=False)
def facilities() -> list[dict[str, object]]:
    """Facilities with name and contract demand, in id order."""
    return _pg("SELECT facility_id, name, contract_demand_kw, timezone FROM facilities ORDER BY facility_id")


@st.cache_data(ttl=5, show_spinner=False)
def last_reading_at() -> dict[str, datetime]:
    """Timestamp of the newest raw reading per facility."""
    rows = _qdb("SELECT facility_id, ts FROM readings LATEST ON ts PARTITION BY facility_id")
    return {str(r["facility_id"]): datetime.fromisoformat(str(r["ts"])) for r in rows}


@st.cache_data(ttl=10, show_spinner=False)
def live_load(hours: int) -> pl.DataFrame:
    """Facility load per minute over the last `hours`: facility_id, ts, kw."""
    rows = _qdb(
        f"SELECT facility_id, ts, kw_avg AS kw FROM facility_load_1m WHERE ts > dateadd('h', -{int(hours)}, now())"
    )
    frame = pl.DataFrame(rows, schema={**LOAD_SCHEMA, "ts": pl.String()}, orient="row")
    return frame.with_columns(pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC"))


@st.cache_data(ttl=30, show_spinner=False)
def latest_forecasts() -> pl.DataFrame:
    """The newest issued forecast of each facility: facility_id, ts, p10, p50, p90, source, generated_at."""
    rows = _pg("""
        SELECT lf.facility_id, lf.ts, lf.p10, lf.p50, lf.p90, lf.source, lf.generated_at
        FROM load_forecasts lf
        JOIN (SELECT facility_id, max(generated_at) AS generated_at FROM load_forecasts GROUP BY facility_id) latest
          USING (facility_id, generated_at)
        ORDER BY lf.facility_id, lf.ts
    """)
    frame = pl.DataFrame(rows, schema={**FORECAST_SCHEMA, "ts": pl.Object(), "generated_at": pl.Object()}, orient="row")
    # psycopg returns aware datetimes in the session's time zone; the UI works in UTC.
    return frame.with_columns(
        pl.col(c).map_elements(lambda v: v.astimezone(UTC), return_dtype=UTC_TS) for c in ("ts", "generated_at")
    )


def age_text(newest: datetime | None, now: datetime) -> str:
    """'last reading 12 s ago' (minutes/hours when older); 'no reading yet' without one."""
    if newest is None:
        return "no reading yet"
    seconds = max(0, round((now - newest).total_seconds()))
    if seconds < 120:
        return f"last reading {seconds} s ago"
    if seconds < 7200:
        return f"last reading {seconds // 60} min ago"
    return f"last reading {seconds // 3600} h ago"
