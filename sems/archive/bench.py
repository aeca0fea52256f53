"""`sems bench archive`: load a synthetic day of N meters into QuestDB, then time archive and restore (rows/s).

The day is loaded through the one QuestDB writer in timestamp order (each batch appends to
the day partition, so QuestDB never re-sorts) and in batches that stay under the ILP
client's 100 MiB request buffer. Only the archive and restore are timed. Afterwards the
scratch table, the seeded day partition and the bench archive are dropped again, so a
57.6 M-row run does not leave ~10 GB behind on a shared disk; the day must therefore be
free of any other readings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

import polars as pl

from sems.archive.restore import drop_scratch, restore_day, wait_applied
from sems.archive.sources import day_bounds, day_where
from sems.archive.store import ArchiveError, ArchiveStore
from sems.archive.writer import archive_day
from sems.settings import Settings
from sems.stores.questdb import query, write_frame

FACILITY = "bench"
# ~130 bytes of ILP text per row: 400 k rows is ~52 MB, half the client's 100 MiB buffer.
BATCH_ROWS = 400_000


def refuse_busy_day(settings: Settings, day: date) -> None:
    """The bench drops the day's partition afterwards: refuse a day that holds anything but bench rows."""
    sql = f"SELECT count() AS n FROM readings WHERE {day_where(day)} AND facility_id != '{FACILITY}'"
    others = int(query(settings, sql)[0]["n"])
    if others:
        raise ArchiveError(f"{day} holds {others} readings that are not the bench's: choose a free day")


def load_day(settings: Settings, day: date, meters: int, interval_s: int = 15,
             progress: Callable[[str], None] = lambda _: None) -> int:
    """Write `meters` meters x one day of readings (facility `bench`) in ts order, ~BATCH_ROWS per transaction."""
    ids = pl.DataFrame({"meter_id": [f"bench-m{m:05d}" for m in range(meters)]}, schema={"meter_id": pl.Categorical})
    start, end = day_bounds(day)
    step = timedelta(seconds=interval_s * max(1, BATCH_ROWS // meters))
    written, first = 0, start
    while first < end:
        last = min(first + step, end) - timedelta(seconds=interval_s)
        ts = pl.datetime_range(first, last, f"{interval_s}s", eager=True, time_unit="us")
        frame = pl.DataFrame({"ts": ts}).join(ids, how="cross").with_columns(
            facility_id=pl.lit(FACILITY, dtype=pl.Categorical), kw=pl.lit(12.5),
            kwh=(pl.col("ts").dt.epoch("s") - int(start.timestamp())).cast(pl.Float64) * (12.5 / 3600),
            seq=pl.lit(0, dtype=pl.Int64),
        )
        written += write_frame(settings, "readings", frame)
        progress(f"loaded {written:,} rows up to {last:%H:%M:%S}")
        first = last + timedelta(seconds=interval_s)
    # Applying 57.6 M rows can lag the last commit by minutes on a shared machine.
    wait_applied(settings.model_copy(update={"archive_timeout_s": 3600.0}), "readings")
    return written


def drop_day(settings: Settings, store: ArchiveStore, day: date) -> None:
    """Remove what the bench left: the seeded day partition of `readings` and the day in the bench archive."""
    query(settings, f"ALTER TABLE readings DROP PARTITION LIST '{day:%Y-%m-%d}'")
    wait_applied(settings, "readings")  # the drop is a WAL transaction: done only once applied
    if store.fs.exists(store.day_dir(day)):
        store.fs.rm(store.day_dir(day), recursive=True)


def run(settings: Settings, store: ArchiveStore, day: date, meters: int,
        progress: Callable[[str], None] = lambda _: None) -> dict[str, float]:
    """Load, archive and restore one day; return rows and seconds of each step; clean up afterwards."""
    refuse_busy_day(settings, day)
    try:
        started = time.perf_counter()
        loaded = load_day(settings, day, meters, progress=progress)
        load_s = time.perf_counter() - started
        progress(f"loaded and applied {loaded:,} rows in {load_s:.1f} s; archiving")
        started = time.perf_counter()
        manifest = archive_day(settings, store, day)
        archived_s = time.perf_counter() - started
        progress(f"archived in {archived_s:.1f} s; restoring")
        table = f"bench_restore_{day:%Y%m%d}_{int(time.time())}"
        started = time.perf_counter()
        try:
            report = restore_day(settings, store, day, "readings", table)
        finally:
            restored_s = time.perf_counter() - started
            drop_scratch(settings, table)
    finally:
        drop_day(settings, store, day)
    rows = manifest.file("readings").rows
    return {"loaded": loaded, "load_s": load_s, "rows": rows, "archive_s": archived_s, "restore_s": restored_s,
            "bytes": manifest.file("readings").bytes, "restore_ok": float(report.ok)}
