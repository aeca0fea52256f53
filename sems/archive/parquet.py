"""Writing one Parquet file into the archive store: zstd, bounded row groups, checksummed while written.

Data arrives as an iterator of Arrow tables (time slices of the source), so a day of
any size passes through in bounded memory: slices are buffered only until a row group
is full. The sha256 of the bytes is computed on the way out; `ArchiveStore.sha256`
later recomputes it from what the store actually holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sems.archive.manifest import ArchivedFile, Column
from sems.archive.store import ArchiveError, ArchiveStore

_NUMERIC = ("DOUBLE", "FLOAT", "LONG", "INT", "SHORT", "BYTE", "bigint", "integer", "double precision", "real")


class _HashingSink:
    """A write-only file object that hashes and counts what passes through to `target`."""

    def __init__(self, target: Any) -> None:
        self.target, self.digest, self.size, self.closed = target, hashlib.sha256(), 0, False

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return int(self.target.write(data) or len(data))

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        self.closed = True


class _Stats:
    """Row count, timestamp range and numeric sums, accumulated slice by slice."""

    def __init__(self, columns: list[Column], ts_column: str) -> None:
        self.rows, self.ts_column = 0, ts_column
        self.min_ts: datetime | None = None
        self.max_ts: datetime | None = None
        self.sums = {c.name: 0.0 for c in columns if c.source_type in _NUMERIC}
        self.sha256, self.size = "", 0  # of the bytes written, set when the file is complete

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if table.num_rows == 0:
            return
        low, high = (v.as_py() for v in pc.min_max(table[self.ts_column]).values())
        self.min_ts = low if self.min_ts is None or low < self.min_ts else self.min_ts
        self.max_ts = high if self.max_ts is None or high > self.max_ts else self.max_ts
        for name in self.sums:
            self.sums[name] += float(pc.sum(table[name]).as_py() or 0.0)

    def iso(self, value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()


def write_parquet(
    store: ArchiveStore, version_dir: str, dataset: str, source: str, columns: list[Column],
    schema: pa.Schema, slices: Iterable[pa.Table], *, row_group_rows: int, ts_column: str = "ts",
) -> ArchivedFile:
    """Write `slices` as `<version_dir>/<dataset>.parquet` (never over an existing file); describe what was written."""
    path = f"{version_dir}/{dataset}.parquet"
    stats = _Stats(columns, ts_column)
    try:
        groups = _write(store, path, schema, slices, stats, row_group_rows)
    except FileExistsError:
        raise ArchiveError(f"{path} exists: archives are write-once, a re-run writes a new version") from None
    return ArchivedFile(
        dataset=dataset, source=source, path=f"{dataset}.parquet", rows=stats.rows,
        min_ts=stats.iso(stats.min_ts), max_ts=stats.iso(stats.max_ts), sha256=stats.sha256,
        bytes=stats.size, columns=columns, sums=stats.sums, row_groups=groups,
    )


def _write(store: ArchiveStore, path: str, schema: pa.Schema, slices: Iterable[pa.Table], stats: _Stats,
           row_group_rows: int) -> int:
    """Stream `slices` into a new file (exclusive create: O_EXCL locally, If-None-Match on S3); row groups written."""
    pending: list[pa.Table] = []
    groups = 0
    with store.fs.open(path, "xb") as target:
        sink = _HashingSink(target)
        with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd") as writer:
            for table in slices:
                stats.add(table)
                pending.append(table.cast(schema))
                if sum(t.num_rows for t in pending) >= row_group_rows:
                    groups += _flush(writer, pending, row_group_rows)
            groups += _flush(writer, pending, row_group_rows, final=True)
    stats.sha256, stats.size = sink.digest.hexdigest(), sink.size
    return groups


def _flush(writer: pq.ParquetWriter, pending: list[pa.Table], row_group_rows: int, final: bool = False) -> int:
    """Write buffered slices as full row groups; keep the remainder unless this is the last flush."""
    if not pending:
        return 0
    merged = pa.concat_tables(pending)
    pending.clear()
    full = merged.num_rows if final else merged.num_rows - merged.num_rows % row_group_rows
    if full == 0:
        pending.append(merged)
        return 0
    writer.write_table(merged.slice(0, full), row_group_size=row_group_rows)
    if full < merged.num_rows:
        pending.append(merged.slice(full))
    return -(-full // row_group_rows)
