"""Reading one day out of the sources in bounded memory: QuestDB tables by time slice, the DR audit log.

QuestDB slices come through HTTP `/exp` (CSV, streamed by the server), one request per slice of about
`archive_slice_rows` rows, so no request or frame ever holds more than a slice of the day.
Column types are read from the database itself and recorded in the manifest.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import httpx
import polars as pl
import pyarrow as pa
from sqlalchemy import text

from sems.archive.manifest import Column
from sems.settings import Settings
from sems.stores import postgres
from sems.stores.questdb import QuestDBError, query

_ARROW = {
    "TIMESTAMP": pa.timestamp("us", tz="UTC"), "DOUBLE": pa.float64(), "FLOAT": pa.float32(),
    "LONG": pa.int64(), "INT": pa.int32(), "SHORT": pa.int16(), "BYTE": pa.int8(), "BOOLEAN": pa.bool_(),
    "SYMBOL": pa.string(), "VARCHAR": pa.string(), "STRING": pa.string(), "CHAR": pa.string(),
    "bigint": pa.int64(), "integer": pa.int32(), "text": pa.string(), "jsonb": pa.string(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"), "double precision": pa.float64(),
    "character varying": pa.string(), "boolean": pa.bool_(), "smallint": pa.int16(),
}


def arrow_schema(columns: list[Column]) -> pa.Schema:
    """The Parquet schema for source columns; an unknown source type is an error, never a silent guess."""
    try:
        return pa.schema([(c.name, _ARROW[c.source_type]) for c in columns])
    except KeyError as exc:
        raise ValueError(f"no Parquet type for source column type {exc.args[0]!r}") from None


def questdb_columns(settings: Settings, table: str) -> list[Column]:
    rows = query(settings, f"SELECT \"column\", type FROM table_columns('{table}')")
    return [Column(row["column"], row["type"]) for row in rows]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def day_where(day: date) -> str:
    """The QuestDB filter for the rows of one UTC day."""
    start, end = day_bounds(day)
    return f"ts >= '{_iso(start)}' AND ts < '{_iso(end)}'"


def questdb_slices(settings: Settings, table: str, columns: list[Column], day: date) -> Iterator[pa.Table]:
    """The rows of `table` on `day`, one Arrow table per time slice, in timestamp order."""
    schema = arrow_schema(columns)
    start, end = day_bounds(day)
    total = int(query(settings, f"SELECT count() AS n FROM {table} WHERE {day_where(day)}")[0]["n"])
    # Equal time slices of about `archive_slice_rows` rows each (a day of 10k meters: ~58 slices of 25 min).
    step = timedelta(days=1) / max(1, math.ceil(total / settings.archive_slice_rows))
    names = ", ".join(c.name for c in columns)
    with httpx.Client(base_url=settings.questdb_http_url, timeout=settings.archive_timeout_s) as client:
        while start < end:
            stop = min(start + step, end)
            sql = f"SELECT {names} FROM {table} WHERE ts >= '{_iso(start)}' AND ts < '{_iso(stop)}'"
            yield _csv_to_arrow(_export_csv(client, sql), columns, schema)
            start = stop


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _export_csv(client: httpx.Client, sql: str) -> bytes:
    try:
        response = client.get("/exp", params={"query": sql})
    except httpx.HTTPError as exc:
        raise QuestDBError(f"QuestDB export failed: {exc!r}") from exc
    if response.status_code != 200:
        raise QuestDBError(f"QuestDB refused export {sql[:100]!r}: HTTP {response.status_code} {response.text[:200]}")
    return response.content


def _csv_to_arrow(body: bytes, columns: list[Column], schema: pa.Schema) -> pa.Table:
    """Parse one exported slice with explicit types (timestamps as UTC microseconds)."""
    as_text = {c.name: pl.String for c in columns}
    frame = pl.read_csv(io.BytesIO(body), schema_overrides=as_text, infer_schema=False)
    if frame.height == 0:
        return schema.empty_table()
    stamps = [c.name for c in columns if c.source_type == "TIMESTAMP"]
    frame = frame.with_columns(
        pl.col(stamps).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
    )
    return frame.to_arrow().cast(schema)  # numbers: Arrow's string -> number casts reject anything malformed


def audit_log_columns(settings: Settings) -> list[Column]:
    engine = postgres.engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'dr_audit_log' ORDER BY ordinal_position"
            )).all()
    finally:
        engine.dispose()
    return [Column(name, kind) for name, kind in rows]


def audit_log_slices(settings: Settings, columns: list[Column], day: date) -> Iterator[pa.Table]:
    """The DR audit log entries of `day` (a few per event: small enough for one slice)."""
    start, end = day_bounds(day)
    engine = postgres.engine(settings)
    try:
        with engine.connect() as conn:
            # Every column the table has now (later migrations may add some); JSON as its text.
            names = ", ".join(f"{c.name}::text AS {c.name}" if c.source_type == "jsonb" else c.name for c in columns)
            rows = conn.execute(text(
                f"SELECT {names} FROM dr_audit_log WHERE ts >= :start AND ts < :end ORDER BY ts, id"
            ), {"start": start, "end": end}).mappings().all()
    finally:
        engine.dispose()
    yield pa.Table.from_pylist([dict(r) for r in rows], schema=arrow_schema(columns))
