"""QuestDB sinks and the read-back of stored minutes, as Beam DoFns over the one writer (`sems.stores.questdb`).

Each sink buffers a bundle's rows and writes them as one dataframe (one ILP/HTTP
transaction per table and bundle) through `write_to_questdb` (retries, DLQ for refused
frames). QuestDB unreachable raises, so the bounded run fails and the driver retries the
same offsets: nothing is committed to Kafka before QuestDB acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime

import apache_beam as beam
import pandas as pd
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from sems.settings import Settings
from sems.stores import questdb
from sems.stores.questdb import wait_wal_applied
from streaming.beam.loads import MINUTE_MS, FacilityMinute, MeterPartial, MeterPartials, minute_of
from streaming.beam.questdb_write import write_to_questdb
from streaming.beam.step_time import timed
from streaming.beam.transforms import NAMESPACE


def facility_load_frame(minutes: Iterable[FacilityMinute], updated_at: datetime) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(m) for m in minutes])
    frame["ts"] = pd.to_datetime(frame.pop("minute_ms"), unit="ms", utc=True)
    frame["updated_at"] = pd.Timestamp(updated_at)
    return frame


def touched_element(facility_id: str, minute_ms: int) -> WindowedValue:
    # Emitted from finish_bundle, so windowing is explicit: the global window, stamped with the
    # minute's event time (Prism 2.77 panics on a GroupByKey of elements stamped MAX_TIMESTAMP).
    return WindowedValue((facility_id, minute_ms), Timestamp.of(minute_ms / 1000), (GlobalWindow(),))


class WriteFacilityLoadFn(beam.DoFn):  # type: ignore[misc]
    """Upserts a bundle's facility minutes into `facility_load_1m`; then emits them as touched for the rollups."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written = Metrics.counter(NAMESPACE, "facility_minutes_written")
        self.buffer: list[FacilityMinute] = []

    def start_bundle(self) -> None:
        self.buffer = []

    def process(self, minute: FacilityMinute) -> None:
        self.buffer.append(minute)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if not self.buffer:
            return
        # One row per (facility, minute): a window that fired twice in this bundle is written (and counted) once.
        latest = {(m.facility_id, m.minute_ms): m for m in self.buffer}
        self.buffer = []
        with timed("write_facility_1m"):
            frame = facility_load_frame(latest.values(), datetime.now(UTC))
            self.written.inc(write_to_questdb(self.settings, "facility_load_1m", frame))
        for facility_id, minute_ms in sorted(latest):
            yield touched_element(facility_id, minute_ms)


class StoredMeterPartialsFn(beam.DoFn):  # type: ignore[misc]
    """(facility_id, [minute_ms]) -> (facility_id, MeterPartials) per touched minute, stamped with the minute.

    Waits first until QuestDB applied every committed WAL transaction of `readings` (read-your-writes),
    then lets QuestDB compute each meter's minute partials (SAMPLE BY 1m): the job never re-reads raw
    rows. The partials are upserted into `meter_load_1m` as they are. A bundle's facilities share
    one query and one write (not one per facility): those round trips were most of a run's fixed cost.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.touched: dict[str, set[int]] = {}

    def start_bundle(self) -> None:
        self.touched = {}

    def process(self, element: tuple[str, Iterable[int]]) -> None:
        self.touched.setdefault(element[0], set()).update(element[1])

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if not self.touched:
            return
        touched, self.touched = self.touched, {}
        with timed("wal_wait_readings"):
            wait_wal_applied(self.settings, "readings", timeout_s=self.settings.questdb_timeout_s)
        with timed("meter_partials"):
            stored = stored_meter_partials(self.settings, touched)
            write_to_questdb(self.settings, "meter_load_1m", meter_load_frame(stored, datetime.now(UTC)))
        for (facility_id, minute_ms), meters in sorted(stored.items()):
            yield WindowedValue((facility_id, meters), Timestamp.of(minute_ms / 1000), (GlobalWindow(),))


def stored_meter_partials(settings: Settings, touched: dict[str, set[int]]) -> dict[tuple[str, int], MeterPartials]:
    """Per (facility, minute), per-meter sum/count/min/max of the stored readings of the touched minutes."""
    minutes = set().union(*touched.values())
    lo, hi = _iso(min(minutes)), _iso(max(minutes) + MINUTE_MS)
    rows = questdb.query(
        settings,
        "SELECT ts, facility_id, meter_id, sum(kw) kw_sum, count() n, min(kw) kw_min, max(kw) kw_max FROM readings "
        f"WHERE facility_id IN ({sql_strings(touched)}) AND ts >= '{lo}' AND ts < '{hi}' "
        "SAMPLE BY 1m ALIGN TO CALENDAR",
    )
    stored: dict[tuple[str, int], MeterPartials] = {}
    for row in rows:
        minute_ms = minute_of(int(datetime.fromisoformat(row["ts"]).timestamp() * 1000))
        if minute_ms in touched.get(row["facility_id"], ()):
            partial = MeterPartial(float(row["kw_sum"]), int(row["n"]), float(row["kw_min"]), float(row["kw_max"]))
            stored.setdefault((row["facility_id"], minute_ms), {})[row["meter_id"]] = partial
    return stored


def sql_strings(values: Iterable[str]) -> str:
    """`'a', 'b'`: SQL string literals for an IN list (quotes doubled)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def meter_load_frame(stored: dict[tuple[str, int], MeterPartials], updated_at: datetime) -> pd.DataFrame:
    rows = [
        (minute_ms, facility_id, meter_id, p.kw_sum / p.count, p.kw_min, p.kw_max, p.kw_sum / p.count / 60, p.count)
        for (facility_id, minute_ms), meters in stored.items()
        for meter_id, p in meters.items()
    ]
    columns = ["ts", "facility_id", "meter_id", "kw_avg", "kw_min", "kw_max", "kwh", "readings"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    frame["updated_at"] = pd.Timestamp(updated_at)
    return frame


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
