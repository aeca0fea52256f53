"""QuestDB as SEMS uses it: SQL over HTTP `/exec`, the schema step, and the one dataframe writer.

Reads go through `query` (HTTP REST, explicit timeout). Writes go through `write_frame`:
ILP over HTTP with `Sender.dataframe`, one table per call, so each call is one
transaction that QuestDB either acknowledges or rejects as a whole. The client's own
retry is off: retry policy belongs to the caller (the streaming job retries with backoff
and routes exhausted writes to the DLQ), and DEDUP keys make those retries harmless.
`wait_wal_applied` gives read-your-writes on a WAL table (the job before it reads minutes back,
the bench before it stops the peer's clock).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from sems.settings import Settings
from sems.stores.questdb_schema import tables

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


class QuestDBError(Exception):
    """QuestDB refused or failed a request; the message says which and why."""


class QuestDBRefused(QuestDBError):
    """QuestDB answered and refused the data itself (a type clash, a bad line): sending it again cannot help."""


WAL_POLL_S = 0.02
_client: tuple[int, httpx.Client] | None = None  # (pid, client): one pooled client per process
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """The process's pooled HTTP client (thread-safe; a forked child makes its own).

    `httpx.get` builds a client, and with it an SSL context, per call: that was 8 % of the
    streaming job's CPU, which polls `wal_tables()` and queries partials several times a run.
    """
    global _client  # noqa: PLW0603 - a per-process cache
    with _client_lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), httpx.Client())
        return _client[1]


def query(settings: Settings, sql: str, *, timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Run `sql` through HTTP `/exec` and return its rows as dicts (DDL returns [])."""
    timeout = timeout_s if timeout_s is not None else settings.questdb_timeout_s
    try:
        response = _http().get(f"{settings.questdb_http_url}/exec", params={"query": sql}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise QuestDBError(f"QuestDB at {settings.questdb_http_url} unreachable: {exc!r}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise QuestDBError(f"QuestDB answered HTTP {response.status_code} without JSON: {response.text[:200]}") from exc
    if response.status_code != 200 or "error" in body:
        raise QuestDBError(f"QuestDB rejected {sql[:120]!r}: {body.get('error', response.status_code)}")
    if "dataset" not in body:
        return []
    names = [column["name"] for column in body["columns"]]
    return [dict(zip(names, row, strict=True)) for row in body["dataset"]]


def ensure_schema(settings: Settings) -> list[str]:
    """Create missing SEMS tables and add missing columns (idempotent); returns what it changed."""
    changed = []
    existing = {row["table_name"] for row in query(settings, "SELECT table_name FROM tables()")}
    for table in tables(settings).values():
        if table.name not in existing:
            query(settings, table.create_sql())
            changed.append(table.name)
            continue
        present = {row["column"] for row in query(settings, f"SELECT \"column\" FROM table_columns('{table.name}')")}
        for column, _ in table.columns:
            if column not in present:
                query(settings, table.add_column_sql(column))
                changed.append(f"{table.name}.{column}")
    return changed


def wait_wal_applied(settings: Settings, table: str, *, timeout_s: float) -> None:
    """Block until `table`'s WAL writer caught up with the transactions committed so far."""
    deadline = time.monotonic() + timeout_s
    target = None
    while True:
        rows = query(
            settings, f"SELECT writerTxn, sequencerTxn, suspended FROM wal_tables() WHERE name = '{table}'"
        )
        if not rows:
            raise QuestDBError(f"QuestDB table {table} is missing or not a WAL table")
        row = rows[0]
        if row["suspended"]:
            raise QuestDBError(
                f"QuestDB suspended WAL apply of {table}: resume it with ALTER TABLE {table} RESUME WAL"
            )
        target = row["sequencerTxn"] if target is None else target
        if row["writerTxn"] >= target:
            return
        if time.monotonic() > deadline:
            raise QuestDBError(f"QuestDB did not apply the WAL of {table} within {timeout_s}s")
        time.sleep(WAL_POLL_S)


WRITE_CHUNK_ROWS = 100_000  # rows per ILP/HTTP request: ~20 MB, well under the client's 100 MiB buffer limit


def write_frame(
    settings: Settings,
    table: str,
    frame: pl.DataFrame | pd.DataFrame,
    *,
    at: str = "ts",
    symbols: Sequence[str] | None = None,
    chunk_rows: int = WRITE_CHUNK_ROWS,
) -> int:
    """Write `frame` to `table`, one ILP/HTTP transaction per `chunk_rows` rows; returns the rows written.

    `symbols` defaults to the table's SYMBOL columns from the schema. Raises `ValueError`
    for a frame that cannot be a batch of `table`, `QuestDBError` if QuestDB does not
    acknowledge a chunk (the chunks before it are committed; every SEMS table has DEDUP UPSERT
    KEYS, so writing the frame again is harmless). Chunked because one request may not
    exceed the client's buffer limit (100 MiB): a 1 M-reading frame (192 MB of ILP) was
    refused whole and, taken for bad data, dead-lettered (found in a 5-minute bench).
    """
    rows = _as_pandas(frame)
    if rows.empty:
        return 0
    if at not in rows.columns:
        raise ValueError(f"frame for {table} has no timestamp column {at!r} (columns: {list(rows.columns)})")
    if symbols is None:
        known = tables(settings).get(table)
        symbols = [s for s in known.symbols if s in rows.columns] if known else []
    for start in range(0, len(rows), chunk_rows):
        _write_chunk(settings, table, rows.iloc[start : start + chunk_rows], at, list(symbols))
    return len(rows)


def _write_chunk(settings: Settings, table: str, rows: pd.DataFrame, at: str, symbols: list[str]) -> None:
    from questdb.ingress import IngressError, IngressErrorCode, Sender

    bad_frame = {IngressErrorCode.BadDataFrame, IngressErrorCode.InvalidName, IngressErrorCode.InvalidTimestamp,
                  IngressErrorCode.ArrowUnsupportedColumnKind, IngressErrorCode.InvalidApiCall}
    timeout_ms = int(settings.questdb_timeout_s * 1000)
    try:
        with Sender.from_conf(
            settings.questdb_ilp_conf, request_timeout=timeout_ms, retry_timeout=0, auto_flush=False
        ) as sender:
            sender.dataframe(rows, table_name=table, symbols=symbols, at=at)
            sender.flush(transactional=True)
    except IngressError as exc:
        if exc.code in bad_frame:
            raise ValueError(f"frame for {table} cannot be written: {exc}") from exc
        # Only an error document from the server about the data is a refusal; a transport error
        # ("io: ...", a timeout, a reset) says nothing about the rows.
        refused = '"code":"invalid"' in str(exc)
        error = QuestDBRefused if refused else QuestDBError
        raise error(f"QuestDB did not acknowledge {len(rows)} rows for {table}: {exc}") from exc


def _as_pandas(frame: pl.DataFrame | pd.DataFrame) -> pd.DataFrame:
    """The ILP dataframe path of the QuestDB client reads pandas frames; convert polars ones."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame
    to_pandas = getattr(frame, "to_pandas", None)
    if to_pandas is None:
        raise ValueError(f"write_frame needs a polars or pandas DataFrame, not {type(frame).__name__}")
    return to_pandas()
