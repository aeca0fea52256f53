"""Restoring an archived day into a scratch QuestDB table and comparing it with the manifest (restore drills, S5).

The scratch table is created from the manifest's own schema (QuestDB column types), so
a restore needs nothing but the archive. Rows go through the one QuestDB writer, in
batches of RESTORE_BATCH_ROWS per transaction. The comparison reads the restored table back: row count,
timestamp range and the sums of numeric columns must match what was archived.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow.parquet as pq

from sems.archive.manifest import ArchivedFile, Manifest
from sems.archive.store import ArchiveError, ArchiveStore
from sems.archive.verify import latest_manifest, verify_version
from sems.settings import Settings
from sems.stores.questdb import query, write_frame
from sems.stores.questdb_schema import tables

# Rows per ILP transaction: real rows (36-character trace ids) are ~170 bytes of ILP text, so
# 250 k rows stay well under the client's 100 MiB request buffer (a 500 k-row group would not).
RESTORE_BATCH_ROWS = 250_000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put into `table` and how it compares with the manifest; `mismatches` empty means it matches."""

    day: date
    version: int
    dataset: str
    table: str
    rows: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def scratch_name(dataset: str, day: date) -> str:
    return f"restore_{dataset}_{day:%Y%m%d}"


def restore_day(settings: Settings, store: ArchiveStore, day: date, dataset: str = "readings",
                table: str | None = None) -> RestoreReport:
    """Restore `dataset` of `day` (newest version) into a new scratch table and compare it with the manifest."""
    manifest = latest_manifest(store, day)
    check = verify_version(store, day, manifest.version)
    if not check.ok:
        raise ArchiveError(f"archive of {day} v{manifest.version} fails verification: {check.problems[0]}")
    archived = _questdb_file(manifest, dataset)
    target = table or scratch_name(dataset, day)
    _create_scratch(settings, target, archived)
    symbols = [c.name for c in archived.columns if c.source_type == "SYMBOL"]
    with store.fs.open(f"{store.version_dir(day, manifest.version)}/{archived.path}", "rb") as stored:
        parquet = pq.ParquetFile(stored)
        for batch in parquet.iter_batches(batch_size=RESTORE_BATCH_ROWS):
            write_frame(settings, target, batch.to_pandas(), symbols=symbols)
    wait_applied(settings, target)
    return compare(settings, manifest, archived, target)


def wait_applied(settings: Settings, table: str) -> None:
    """Block until QuestDB has applied every committed WAL transaction of `table` (so counts are final)."""
    deadline = time.monotonic() + settings.archive_timeout_s
    sql = f"SELECT writerTxn, sequencerTxn, suspended FROM wal_tables() WHERE name = '{table}'"
    while True:
        state = query(settings, sql)
        if state and state[0]["suspended"]:
            raise ArchiveError(f"QuestDB suspended WAL apply of {table}; see the QuestDB log")
        if state and state[0]["writerTxn"] >= state[0]["sequencerTxn"]:
            return
        if time.monotonic() > deadline:
            raise ArchiveError(f"QuestDB did not apply the restore into {table} within {settings.archive_timeout_s}s")
        time.sleep(0.2)  # polling QuestDB's own progress; there is no notification to wait on


def _questdb_file(manifest: Manifest, dataset: str) -> ArchivedFile:
    try:
        archived = manifest.file(dataset)
    except KeyError as exc:
        raise ArchiveError(str(exc.args[0])) from None
    if archived.source != "questdb":
        raise ArchiveError(f"{dataset} comes from {archived.source}; only QuestDB datasets restore into QuestDB")
    return archived


def _create_scratch(settings: Settings, target: str, archived: ArchivedFile) -> None:
    """A new WAL table (ILP transactions need WAL) without dedup, so every archived row lands; never a live table."""
    if not _NAME.match(target) or target in tables(settings):
        raise ArchiveError(f"refusing to restore into {target!r}: choose a new scratch table name (lower case, _)")
    if query(settings, f"SELECT table_name FROM tables() WHERE table_name = '{target}'"):
        raise ArchiveError(f"table {target} exists: drop it or restore with another --table")
    cols = ", ".join(f"{c.name} {c.source_type}" for c in archived.columns)
    query(settings, f"CREATE TABLE {target} ({cols}) TIMESTAMP(ts) PARTITION BY DAY WAL")


def compare(settings: Settings, manifest: Manifest, archived: ArchivedFile, table: str) -> RestoreReport:
    """Row count, timestamp range and numeric sums of `table` against the manifest's entry."""
    sums = "".join(f", sum({name}) AS sum_{name}" for name in archived.sums)
    got = query(settings, f"SELECT count() AS n, min(ts) AS lo, max(ts) AS hi{sums} FROM {table}")[0]
    mismatches = []
    if got["n"] != archived.rows:
        mismatches.append(f"rows: restored {got['n']}, archived {archived.rows}")
    for key, stamp in (("lo", archived.min_ts), ("hi", archived.max_ts)):
        if archived.rows and _micros(got[key]) != _micros(stamp):
            mismatches.append(f"{'min' if key == 'lo' else 'max'} ts: restored {got[key]}, archived {stamp}")
    for name, total in archived.sums.items():
        restored = float(got[f"sum_{name}"] or 0.0)
        if not math.isclose(restored, total, rel_tol=1e-9, abs_tol=1e-6):
            mismatches.append(f"sum({name}): restored {restored}, archived {total}")
    return RestoreReport(manifest.date, manifest.version, archived.dataset, table, int(got["n"]), mismatches)


def _micros(stamp: str | None) -> datetime | None:
    """QuestDB's `...000000Z` and Python's `+00:00` ISO forms as comparable instants."""
    return None if stamp is None else datetime.fromisoformat(stamp)


def drop_scratch(settings: Settings, table: str) -> None:
    if table not in tables(settings):
        query(settings, f"DROP TABLE IF EXISTS {table}")
