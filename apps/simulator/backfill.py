"""History backfill: the past days of modelled load written to QuestDB's facility rollups, so a fresh stack can train.

The forecasting path reads `facility_load_1m` (`docs/forecasting.md`, "History the model
path needs"): `ts` (minute start, UTC), `facility_id`, `kw_avg`; the UI and DR verification
read the other columns and the 15-minute and hourly tables. The backfill writes exactly
those three tables, one row per facility and minute / quarter-hour / hour, through the one
QuestDB writer (`sems.stores.questdb.write_frame`). Raw 15 s readings are not backfilled
(too many rows for what they add), nor `meter_load_1m`.

Each facility is filled over [end - days, first row it already has), so a restart writes
nothing twice and never overwrites measured (live) minutes; days are written newest first,
so a backfill cut short resumes where it stopped on the next start. Rollup buckets the
window does not cover completely are left to the streaming job. The DEDUP UPSERT keys
(`ts, facility_id`) make any repeat harmless anyway.

The minute value is the facility model's noise-free load at mid-minute times the noise of
a minute's mean of readings (`NOISE` per reading, `60 / interval` readings per meter).
"""

from __future__ import annotations

import logging
import math
import random
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import polars as pl

from apps.simulator.facility_model import NOISE, FacilityModel
from sems.resilience import retry
from sems.settings import Settings
from sems.stores import questdb

log = logging.getLogger(__name__)

ROLLUPS = {"facility_load_15m": "15m", "facility_load_1h": "1h"}
_BUCKET = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}


def missing_spans(settings: Settings, facility_ids: Iterable[str], start: datetime,
                  end: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Per facility, the part of [start, end) before its first stored minute; covered facilities are left out."""
    ids = sorted(facility_ids)
    listed = ", ".join(f"'{i}'" for i in ids)
    rows = questdb.query(settings, f"SELECT facility_id, min(ts) AS first_ts FROM facility_load_1m "
                                   f"WHERE facility_id IN ({listed}) AND ts >= '{_iso(start)}'")
    first = {r["facility_id"]: datetime.fromisoformat(r["first_ts"]) for r in rows if r["first_ts"]}
    spans = {f: (start, min(end, first.get(f, end))) for f in ids}
    return {f: span for f, span in spans.items() if span[1] - span[0] >= timedelta(minutes=1)}


def minute_frame(model: FacilityModel, start: datetime, end: datetime, interval_s: float,
                 rng: random.Random) -> pl.DataFrame:
    """`facility_load_1m` rows of one facility over [start, end) (minute-aligned bounds)."""
    per_meter = max(1, round(60 / interval_s))
    meters = len(model.facility.meter_ids)
    # A minute's mean of `per_meter` readings per meter, summed over meters with their shares.
    sigma = NOISE * math.sqrt(sum(s * s for s in model.shares.values()) / per_meter)
    minutes = int((end - start).total_seconds() // 60)
    ts = [start + timedelta(minutes=i) for i in range(minutes)]
    kw = [model.load_kw(t + timedelta(seconds=30)) * (1 + rng.gauss(0, sigma)) for t in ts]
    return pl.DataFrame({"ts": ts, "kw_avg": kw}, schema={"ts": pl.Datetime("us", "UTC"), "kw_avg": pl.Float64}
                        ).with_columns(
        facility_id=pl.lit(model.facility.facility_id),
        kw_min=pl.col("kw_avg") * (1 - 2 * NOISE),  # about the sum of the meters' lowest readings
        kw_max=pl.col("kw_avg") * (1 + 2 * NOISE),
        kwh=pl.col("kw_avg") / 60,
        readings=pl.lit(per_meter * meters, pl.Int64),
        meters=pl.lit(meters, pl.Int32),
    )


def rollup(minutes: pl.DataFrame, every: str) -> pl.DataFrame:
    """15-minute or hourly rows from minute rows, only for buckets whose every minute is there."""
    bucket = _BUCKET[every]
    frame = minutes.sort("facility_id", "ts").group_by_dynamic("ts", every=every, group_by="facility_id").agg(
        pl.col("kw_avg").mean(), pl.col("kw_min").min(), pl.col("kw_max").max(), pl.col("readings").sum(),
        pl.col("meters").max(), pl.len().alias("minutes"),
    )
    # A bucket cut by the window's edge is left alone: the streaming job owns the one holding live minutes.
    full = frame.filter(pl.col("minutes") == bucket // timedelta(minutes=1))
    return full.drop("minutes").with_columns(kwh=pl.col("kw_avg") * (bucket / timedelta(hours=1)))


def backfill(settings: Settings, models: list[FacilityModel], days: int, end: datetime | None = None) -> dict[str, int]:
    """Write the missing history of `models` over the `days` before `end` (now); rows written per table."""
    end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end.replace(minute=0) - timedelta(days=days)
    by_id = {m.facility.facility_id: m for m in models}
    spans = missing_spans(settings, by_id, start, end)
    written = dict.fromkeys(("facility_load_1m", *ROLLUPS), 0)
    day_end = end
    while day_end > start and spans:
        day_start = max(start, (day_end - timedelta(microseconds=1)).replace(hour=0, minute=0, second=0, microsecond=0))
        frames = []
        for facility_id, (lo, hi) in spans.items():
            lo, hi = max(lo, day_start), min(hi, day_end)
            if hi > lo:
                rng = random.Random(settings.simulator_seed or zlib.crc32(f"{facility_id}{lo}".encode()))
                frames.append(minute_frame(by_id[facility_id], lo, hi, settings.simulator_interval_s, rng))
        if frames:
            _write_day(settings, pl.concat(frames), written)
        day_end = day_start
    log.info("backfilled", extra={"fields": {"facilities": len(spans), "days": days, **written}})
    return written


def _write_day(settings: Settings, minutes: pl.DataFrame, written: dict[str, int]) -> None:
    now = datetime.now(UTC)
    written["facility_load_1m"] += questdb.write_frame(settings, "facility_load_1m",
                                                       minutes.with_columns(updated_at=pl.lit(now)))
    for table, every in ROLLUPS.items():
        rows = rollup(minutes, every)
        if not rows.is_empty():
            written[table] += questdb.write_frame(settings, table, rows.with_columns(updated_at=pl.lit(now)))


def backfill_when_started(settings: Settings, models: list[FacilityModel]) -> None:
    """The simulator's start-up backfill (a background thread): retried while QuestDB is not there yet."""
    try:
        retry(lambda: backfill(settings, models, settings.simulator_backfill_days), attempts=6,
              retry_on=(questdb.QuestDBError,), base_delay_s=5.0, max_delay_s=60.0)
    except questdb.QuestDBError as exc:
        # The live readings matter more than history: keep simulating, say why there is no history.
        log.error("backfill failed, no history written this start: %s", exc)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
