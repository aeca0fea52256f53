"""Data access of the analyst UI: cached reads of QuestDB and PostgreSQL, and the age of a reading.

Every cache has a TTL shorter than the page's refresh, so numbers are never older than
one refresh plus the TTL, and every number carries the timestamp it describes, so pages show
its real age. A failed read is retried at once (the one retry helper); if it still fails it
raises `StoreUnavailable`, which pages show as an error banner instead of old numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import streamlit as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from sems.resilience import retry
from sems.settings import Settings, get_settings
from sems.stores import postgres, questdb

UTC_TS = pl.Datetime("us", "UTC")
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


def _pg_once(sql: str, params: dict[str, object]) -> list[dict[str, object]]:
    try:
        with _engine().connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"PostgreSQL: {str(exc).splitlines()[0][:160]}") from exc


def _qdb_once(sql: str) -> list[dict[str, object]]:
    try:
        return questdb.query(settings(), sql)
    except questdb.QuestDBError as exc:
        raise StoreUnavailable(f"QuestDB: {str(exc)[:160]}") from exc


def _pg(sql: str, **params: object) -> list[dict[str, object]]:
    # A failed refresh is retried at once (S1), not on the next tick.
    return retry(lambda: _pg_once(sql, params), attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)


def _qdb(sql: str) -> list[dict[str, object]]:
    return retry(lambda: _qdb_once(sql), attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)


@st.cache_data(ttl=60, show_spinner=False)
def facilities() -> list[dict[str, object]]:
    """Facilities with name and contract demand, in id order."""
    return _pg("SELECT facility_id, name, contract_demand_kw, timezone FROM facilities ORDER BY facility_id")


@st.cache_data(ttl=5, show_spinner=False)
def current_load() -> dict[str, dict[str, object]]:
    """The newest 1-minute total per facility: {facility_id: {"ts": its start, "until": newest reading, "kw"}}.

    The Beam job upserts the running minute as readings arrive, so a total's start says little about how
    fresh it is: ages count from `until`, when SEMS last received a reading of the facility (its
    lineage's `ingested_at`, the server's clock), at most the total's end. Not the readings' own timestamps: a
    meter whose clock runs ahead would make old data look fresh forever. Minutes ahead of now are
    ignored for the same reason.
    """
    rows = _qdb("SELECT facility_id, ts, kw_avg FROM facility_load_1m WHERE ts <= now() "
                "LATEST ON ts PARTITION BY facility_id")
    received = {str(r["facility_id"]): datetime.fromisoformat(str(r["received"]))
                for r in _qdb("SELECT facility_id, max(ingested_at) received FROM reading_lineage "
                              "WHERE ts > dateadd('h', -1, now()) GROUP BY facility_id")}
    loads = {}
    for r in rows:
        fid, ts = str(r["facility_id"]), datetime.fromisoformat(str(r["ts"]))
        end = ts + timedelta(minutes=1)
        loads[fid] = {"ts": ts, "until": min(received.get(fid, end), end), "kw": r["kw_avg"]}
    return loads


ROLLUPS = {"1 minute": "facility_load_1m", "15 minutes": "facility_load_15m", "1 hour": "facility_load_1h"}


@st.cache_data(ttl=10, show_spinner=False)
def load_history(facility_id: str, table: str, hours: int) -> pl.DataFrame:
    """One facility's load from a rollup table (`ROLLUPS`) over the last `hours`: ts (bucket start), kw, min, max."""
    if table not in ROLLUPS.values() or not facility_id.replace("-", "").isalnum():
        raise ValueError(f"not a rollup table / facility id: {table!r} {facility_id!r}")
    rows = _qdb(f"SELECT ts, kw_avg AS kw, kw_min, kw_max FROM {table} WHERE facility_id = '{facility_id}' "
                f"AND ts > dateadd('h', -{int(hours)}, now()) ORDER BY ts")
    schema = {"ts": pl.String(), "kw": pl.Float64(), "kw_min": pl.Float64(), "kw_max": pl.Float64()}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC"))


@st.cache_data(ttl=10, show_spinner=False)
def bms_commands(facility_id: str) -> list[dict[str, object]] | None:
    """The facility's BMS command history (newest first), or None where the DR schema has no command table."""
    if not _pg("SELECT to_regclass('dr_bms_commands') IS NOT NULL AS present")[0]["present"]:
        return None
    return _pg("""SELECT created_at, event_id, point, action, prior_value, target_value, state, error
                  FROM dr_bms_commands WHERE facility_id = :fid ORDER BY created_at DESC LIMIT 200""", fid=facility_id)


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
