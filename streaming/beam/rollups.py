"""15-minute and hourly facility rollups, computed by QuestDB from `meter_load_1m` for the buckets a run touched.

Chosen over QuestDB materialized views so every rollup is written by the job with the same
DEDUP upsert and the same retry/DLQ path, and over Beam windows so a late minute needs no job
state: the rollup of a bucket is recomputed from the stored minutes. Per meter, the bucket's
`kw_avg` is the reading-weighted mean of its minutes (sum(kw_avg x readings) / sum(readings),
i.e. the mean of its raw readings); the facility's is the sum over its meters, as for 1 minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import apache_beam as beam
import pandas as pd
from apache_beam.metrics import Metrics

from sems.settings import Settings
from sems.stores import questdb
from sems.stores.questdb import wait_wal_applied
from streaming.beam.questdb_io import sql_strings
from streaming.beam.questdb_write import write_to_questdb
from streaming.beam.step_time import timed

ROLLUPS = {"facility_load_15m": (15, "15m"), "facility_load_1h": (60, "1h")}  # table: (minutes, SAMPLE BY unit)


def rollup_sql(facility_ids: Iterable[str], lo_ms: int, hi_ms: int, unit: str) -> str:
    """Per facility and bucket of [lo, hi): the sum over its meters of each meter's bucket figures."""
    lo, hi = _iso(lo_ms), _iso(hi_ms)
    per_meter = (
        "SELECT ts, facility_id, meter_id, sum(kw_avg * readings) / sum(readings) kw_avg, min(kw_min) kw_min, "
        f"max(kw_max) kw_max, sum(readings) readings FROM meter_load_1m "
        f"WHERE facility_id IN ({sql_strings(facility_ids)}) AND ts >= '{lo}' AND ts < '{hi}' "
        f"SAMPLE BY {unit} ALIGN TO CALENDAR"
    )
    return (
        "SELECT ts, facility_id, sum(kw_avg) kw_avg, sum(kw_min) kw_min, sum(kw_max) kw_max, sum(readings) readings, "
        f"count() meters FROM ({per_meter}) ORDER BY ts"
    )


class RollupsFn(beam.DoFn):  # type: ignore[misc]
    """(facility_id, [minute_ms]) -> upserts of the 15-minute and hourly buckets holding those minutes.

    A bundle's facilities share one query and one write per rollup table (not one per facility).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written = Metrics.counter("sems.beam", "rollup_rows_written")
        self.touched: dict[str, set[int]] = {}

    def start_bundle(self) -> None:
        self.touched = {}

    def process(self, element: tuple[str, Iterable[int]]) -> None:
        self.touched.setdefault(element[0], set()).update(element[1])

    def finish_bundle(self) -> None:
        if not self.touched:
            return
        touched, self.touched = self.touched, {}
        with timed("wal_wait_meter_1m"):
            wait_wal_applied(self.settings, "meter_load_1m", timeout_s=self.settings.questdb_timeout_s)
        with timed("rollups"):
            self._roll_up(touched)

    def _roll_up(self, touched: dict[str, set[int]]) -> None:
        for table, (bucket_min, unit) in ROLLUPS.items():
            bucket_ms = bucket_min * 60_000
            buckets = {f: {m - m % bucket_ms for m in minutes} for f, minutes in touched.items()}
            lo = min(min(b) for b in buckets.values())
            hi = max(max(b) for b in buckets.values()) + bucket_ms
            rows = questdb.query(self.settings, rollup_sql(touched, lo, hi, unit))
            frame = pd.DataFrame([r for r in rows if _ms(r["ts"]) in buckets.get(r["facility_id"], ())])
            if frame.empty:
                continue
            frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
            frame["kwh"] = frame["kw_avg"] * bucket_min / 60
            frame["updated_at"] = pd.Timestamp(datetime.now(UTC))
            self.written.inc(write_to_questdb(self.settings, table, frame))


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
