"""`sems bench archive`: load a synthetic day of N meters into QuestDB, then time archive and restore (rows/s).

The day is loaded through the one QuestDB writer an hour at a time; only the archive
and restore are timed. The scratch table is dropped afterwards; the seeded readings
stay until the raw TTL removes them, so use a day no live data shares.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import polars as pl

from sems.archive.restore import drop_scratch, restore_day, wait_applied
from sems.archive.store import ArchiveStore
from sems.archive.writer import archive_day
from sems.settings import Settings
from sems.stores.questdb import write_frame


def load_day(settings: Settings, day: date, meters: int, interval_s: int = 15) -> int:
    """Write `meters` meters x one day of readings (facility `bench`), one hour per transaction."""
    ids = pl.DataFrame({"meter_id": [f"bench-m{m:05d}" for m in range(meters)]})
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    written = 0
    for hour in range(24):
        first = start + timedelta(hours=hour)
        ts = pl.datetime_range(first, first + timedelta(seconds=3600 - interval_s), f"{interval_s}s",
                               eager=True, time_unit="us")
        frame = ids.join(pl.DataFrame({"ts": ts}), how="cross").with_columns(
            facility_id=pl.lit("bench"), kw=pl.lit(12.5),
            kwh=(pl.col("ts").dt.epoch("s") - int(start.timestamp())).cast(pl.Float64) * (12.5 / 3600),
            seq=pl.lit(0, dtype=pl.Int64), ingested_at=pl.col("ts"), trace_id=pl.lit("bench"),
        )
        written += write_frame(settings, "readings", frame)
    wait_applied(settings, "readings")
    return written


def run(settings: Settings, store: ArchiveStore, day: date, meters: int) -> dict[str, float]:
    """Load, archive and restore one day; return rows and seconds of each timed step."""
    loaded = load_day(settings, day, meters)
    started = time.perf_counter()
    manifest = archive_day(settings, store, day)
    archived_s = time.perf_counter() - started
    table = f"bench_restore_{day:%Y%m%d}_{int(time.time())}"
    started = time.perf_counter()
    try:
        report = restore_day(settings, store, day, "readings", table)
    finally:
        restored_s = time.perf_counter() - started
        drop_scratch(settings, table)
    rows = manifest.file("readings").rows
    return {"loaded": loaded, "rows": rows, "archive_s": archived_s, "restore_s": restored_s,
            "bytes": manifest.file("readings").bytes, "restore_ok": float(report.ok)}
