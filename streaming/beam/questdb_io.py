"""QuestDB sinks and the read-back of stored minutes, as Beam DoFns over the one writer (`sems.stores.questdb`).

Each sink buffers a bundle's batches and writes them as one dataframe (one ILP/HTTP
transaction per table and bundle). A failed write raises, so the bounded run fails and
the driver retries the same offsets: nothing is committed to Kafka before QuestDB acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime

import apache_beam as beam
import pandas as pd
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from sems.readings import Reading
from sems.settings import Settings
from sems.stores import questdb
from streaming.beam.loads import MINUTE_MS, FacilityMinute, minute_of
from streaming.beam.records import ReadingBatch
from streaming.beam.transforms import NAMESPACE

WAL_POLL_S = 0.02


def readings_frame(batches: Iterable[ReadingBatch], ingested_at: datetime) -> pd.DataFrame:
    """The `readings` rows of `batches` (one row per reading, trace id of its Kafka record)."""
    rows = [(r.ts_ms, r.facility_id, r.meter_id, r.kw, r.kwh, r.seq, b.trace_id) for b in batches for r in b.readings]
    frame = pd.DataFrame(rows, columns=["ts", "facility_id", "meter_id", "kw", "kwh", "seq", "trace_id"])
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    frame["kwh"] = frame["kwh"].astype("float64")
    frame["seq"] = frame["seq"].astype("Int64")
    frame["ingested_at"] = pd.Timestamp(ingested_at)
    return frame


def facility_load_frame(minutes: Iterable[FacilityMinute], updated_at: datetime) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(m) for m in minutes])
    frame["ts"] = pd.to_datetime(frame.pop("minute_ms"), unit="ms", utc=True)
    frame["updated_at"] = pd.Timestamp(updated_at)
    return frame


def _touched(facility_id: str, minute_ms: int) -> WindowedValue:
    # Emitted from finish_bundle, so windowing is explicit: the global window, stamped with the
    # minute's event time (Prism 2.77 panics on a GroupByKey of elements stamped MAX_TIMESTAMP).
    return WindowedValue((facility_id, minute_ms), Timestamp.of(minute_ms / 1000), (GlobalWindow(),))


class WriteReadingsFn(beam.DoFn):  # type: ignore[misc]
    """Writes a bundle's reading batches to `readings`; then emits the (facility_id, minute_ms) it touched."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written = Metrics.counter(NAMESPACE, "readings_written")
        self.buffer: list[ReadingBatch] = []

    def start_bundle(self) -> None:
        self.buffer = []

    def process(self, batch: ReadingBatch) -> None:
        self.buffer.append(batch)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if not self.buffer:
            return
        rows = questdb.write_frame(self.settings, "readings", readings_frame(self.buffer, datetime.now(UTC)))
        self.written.inc(rows)
        touched = {(b.facility_id, minute_of(r.ts_ms)) for b in self.buffer for r in b.readings}
        self.buffer = []
        for facility_id, minute_ms in sorted(touched):
            yield _touched(facility_id, minute_ms)


class WriteFacilityLoadFn(beam.DoFn):  # type: ignore[misc]
    """Upserts a bundle's facility minutes into `facility_load_1m` (DEDUP on ts, facility_id)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written = Metrics.counter(NAMESPACE, "facility_minutes_written")
        self.buffer: list[FacilityMinute] = []

    def start_bundle(self) -> None:
        self.buffer = []

    def process(self, minute: FacilityMinute) -> None:
        self.buffer.append(minute)

    def finish_bundle(self) -> None:
        if self.buffer:
            self.written.inc(
                questdb.write_frame(
                    self.settings, "facility_load_1m", facility_load_frame(self.buffer, datetime.now(UTC))
                )
            )
            self.buffer = []


class ReadStoredMinutesFn(beam.DoFn):  # type: ignore[misc]
    """(facility_id, [minute_ms]) -> the ReadingBatch of every stored reading of those minutes.

    Waits first until QuestDB applied every committed WAL transaction of `readings`, so the
    read-back sees this run's writes and all earlier ones (read-your-writes on a WAL table).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def start_bundle(self) -> None:
        wait_wal_applied(self.settings, "readings", timeout_s=self.settings.questdb_timeout_s)

    def process(self, element: tuple[str, Iterable[int]]) -> Iterator[ReadingBatch]:
        facility_id, minutes = element[0], set(element[1])
        yield ReadingBatch(facility_id, tuple(stored_readings(self.settings, facility_id, minutes)))


def stored_readings(settings: Settings, facility_id: str, minutes: set[int]) -> Iterator[Reading]:
    """Every stored reading of `facility_id` in the given minutes (one range query, filtered)."""
    lo, hi = _iso(min(minutes)), _iso(max(minutes) + MINUTE_MS)
    name = facility_id.replace("'", "''")
    rows = questdb.query(
        settings, f"SELECT meter_id, ts, kw FROM readings WHERE facility_id = '{name}' AND ts >= '{lo}' AND ts < '{hi}'"
    )
    for row in rows:
        ts_ms = int(datetime.fromisoformat(row["ts"]).timestamp() * 1000)
        if minute_of(ts_ms) in minutes:
            yield Reading(facility_id, row["meter_id"], ts_ms, float(row["kw"]))


def wait_wal_applied(settings: Settings, table: str, *, timeout_s: float) -> None:
    """Block until `table`'s WAL writer caught up with the transactions committed so far."""
    deadline = time.monotonic() + timeout_s
    target = None
    while True:
        rows = questdb.query(
            settings, f"SELECT writerTxn, sequencerTxn, suspended FROM wal_tables() WHERE name = '{table}'"
        )
        if not rows:
            raise questdb.QuestDBError(f"QuestDB table {table} is missing or not a WAL table")
        row = rows[0]
        if row["suspended"]:
            raise questdb.QuestDBError(
                f"QuestDB suspended WAL apply of {table}: resume it with ALTER TABLE {table} RESUME WAL"
            )
        target = row["sequencerTxn"] if target is None else target
        if row["writerTxn"] >= target:
            return
        if time.monotonic() > deadline:
            raise questdb.QuestDBError(f"QuestDB did not apply the WAL of {table} within {timeout_s}s")
        time.sleep(WAL_POLL_S)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
