"""Archiving one day: every QuestDB table and the DR audit log to a new, write-once version, read back before it counts.

The writer first claims the next version atomically (`ArchiveStore.claim_version`), so two
runs of one day never share a version directory. The order is what makes an archive
trustworthy: files first, each read back from the store and its sha256, size and Parquet
row count compared with what was written; only then the manifest, itself read back. A
crash at any point leaves a version without a manifest, which `verify` reports and no reader ever takes for an archive.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from sems.archive import sources
from sems.archive.manifest import ArchivedFile, Column, Manifest, software_version
from sems.archive.parquet import write_parquet
from sems.archive.store import MANIFEST, ArchiveError, ArchiveStore
from sems.settings import Settings
from sems.stores.questdb_schema import tables

log = logging.getLogger(__name__)
AUDIT_LOG = "dr_audit_log"


def archive_day(settings: Settings, store: ArchiveStore, day: date) -> Manifest:
    """Write the next version of `day` and return its manifest once everything has been read back intact."""
    owner = f"{socket.gethostname()} pid {os.getpid()} at {datetime.now(UTC).isoformat()}"
    version = store.claim_version(day, owner)
    version_dir = store.version_dir(day, version)
    files = []
    for table in tables(settings):
        columns = sources.questdb_columns(settings, table)
        slices = sources.questdb_slices(settings, table, columns, day)
        files.append(_write(settings, store, version_dir, table, "questdb", columns, slices))
    audit = sources.audit_log_columns(settings)
    files.append(_write(settings, store, version_dir, AUDIT_LOG, "postgres", audit,
                        sources.audit_log_slices(settings, audit, day)))
    manifest = Manifest(day.isoformat(), version, datetime.now(UTC).isoformat(), software_version(), files)
    _write_manifest(store, version_dir, manifest)
    rows = sum(f.rows for f in files)
    log.info("archived", extra={"fields": {"day": day.isoformat(), "version": version, "rows": rows}})
    return manifest


def _write(settings: Settings, store: ArchiveStore, version_dir: str, dataset: str, source: str,
           columns: list[Column], slices: Iterable[pa.Table]) -> ArchivedFile:
    written = write_parquet(
        store, version_dir, dataset, source, columns, sources.arrow_schema(columns), slices,
        row_group_rows=settings.archive_row_group_rows,
    )
    read_back(store, version_dir, written)
    return written


def read_back(store: ArchiveStore, version_dir: str, expected: ArchivedFile) -> None:
    """Re-read a stored file and compare checksum, size and row count with what was written; raise if any differ."""
    path = f"{version_dir}/{expected.path}"
    digest, size = store.sha256(path)
    if (digest, size) != (expected.sha256, expected.bytes):
        raise ArchiveError(f"{path} read back as {size} bytes sha256 {digest[:12]}, written "
                           f"{expected.bytes} bytes sha256 {expected.sha256[:12]}")
    with store.fs.open(path, "rb") as stored:
        rows = pq.ParquetFile(stored).metadata.num_rows
    if rows != expected.rows:
        raise ArchiveError(f"{path} holds {rows} rows, {expected.rows} were written")


def _write_manifest(store: ArchiveStore, version_dir: str, manifest: Manifest) -> None:
    path = f"{version_dir}/{MANIFEST}"
    body = manifest.to_json().encode()
    try:
        store.create(path, body)
    except FileExistsError:
        raise ArchiveError(f"{path} exists: archives are write-once") from None
    with store.fs.open(path, "rb") as stored:
        if stored.read() != body:
            raise ArchiveError(f"{path} did not read back as written")
