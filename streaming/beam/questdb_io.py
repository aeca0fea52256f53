"""QuestDB sinks and the read-back of stored minutes, as Beam DoFns over the one writer (`sems.stores.questdb`).

Each sink buffers a bundle's rows and writes them as one dataframe (one ILP/HTTP
transaction per table and bundle) through `write_to_questdb` (retries, DLQ for refused
frames). QuestDB unreachable raises, so the bounded run fails and the driver retries the
same offsets: nothing is committed to Kafka before QuestDB acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pandas as pd
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from sems.settings import Settings
from sems.stores import questdb
from sems.stores.questdb import wait_wal_applied
from streaming.beam.loads import MINUTE_MS, FacilityMinute, MeterPartial, minute_of
from streaming.beam.meter_deltas import MinuteDelta, StoredMeter, merge_minute_deltas, partials_of, updated_meters
from streaming.beam.questdb_write import write_to_questdb
from streaming.beam.step_time import timed
from streaming.beam.transforms import NAMESPACE


def facility_load_frame(minutes: Iterable[FacilityMinute], updated_at: datetime) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(m) for m in minutes])
    frame["ts"] = pd.to_datetime(frame.pop("minute_ms"), unit="ms", utc=True)
    frame["updated_at"] = pd.Timestamp(updated_at)
    return frame


def at_minute(element: Any, minute_ms: int) -> WindowedValue:
    # Emitted from finish_bundle, so windowing is explicit: the global window, stamped with the
    # minute's event time (Prism 2.77 panics on a GroupByKey of elements stamped MAX_TIMESTAMP).
    return WindowedValue(element, Timestamp.of(minute_ms / 1000), (GlobalWindow(),))


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
            yield at_minute((facility_id, minute_ms), minute_ms)


class StoredMeterPartialsFn(beam.DoFn):  # type: ignore[misc]
    """(facility_id, [MinuteDelta]) -> (facility_id, MeterPartials) per touched minute, stamped with the minute.

    Waits first until QuestDB applied every committed WAL transaction of `readings` (read-your-writes;
    the run commits its Kafka offsets only after this). Each touched facility-minute's stored meter rows
    (`meter_load_1m`) plus the run's delta give its new meter partials, and the changed meters are
    upserted; a delta that could have replaced stored readings (`updated_meters` says None), or a
    minute older than the allowed lateness, is recomputed by QuestDB from `readings` (SAMPLE BY 1m)
    instead. A bundle's facilities share one query and one write (not one per facility): those
    round trips were most of a run's fixed cost.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rescanned = Metrics.counter(NAMESPACE, "meter_minutes_rescanned")
        self.touched: dict[str, list[MinuteDelta]] = {}

    def start_bundle(self) -> None:
        self.touched = {}

    def process(self, element: tuple[str, Iterable[MinuteDelta]]) -> None:
        self.touched.setdefault(element[0], []).extend(element[1])

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if not self.touched:
            return
        deltas = {
            (facility_id, minute_ms): merge_minute_deltas(group)
            for facility_id, minutes in self.touched.items()
            for minute_ms, group in _by_minute(minutes).items()
        }
        self.touched = {}
        with timed("wal_wait_readings"):
            wait_wal_applied(self.settings, "readings", timeout_s=self.settings.questdb_timeout_s)
        with timed("wal_wait_meter_rows"):  # the previous run's meter rows, which this run adds to
            wait_wal_applied(self.settings, "meter_load_1m", timeout_s=self.settings.questdb_timeout_s)
        with timed("meter_partials"):
            stored, changed = self._updated(deltas)
            write_to_questdb(self.settings, "meter_load_1m", meter_load_frame(changed, datetime.now(UTC)))
        for (facility_id, minute_ms), meters in sorted(stored.items()):
            yield at_minute((facility_id, partials_of(meters)), minute_ms)

    def _updated(self, deltas: dict[tuple[str, int], MinuteDelta]) -> tuple[MinuteMeters, MinuteMeters]:
        """(every meter of each touched facility-minute, the meters that changed), after the run's deltas."""
        horizon = int(time.time() * 1000) - (self.settings.beam_allowed_lateness_s * 1000 + MINUTE_MS)
        stored = stored_meter_rows(self.settings, {key for key in deltas if key[1] >= horizon})
        changed: MinuteMeters = {}
        rescan: dict[str, set[int]] = {}
        for key, delta in deltas.items():
            updated = updated_meters(delta, stored.get(key, {})) if key[1] >= horizon else None
            if updated is None:
                rescan.setdefault(key[0], set()).add(key[1])
            else:
                changed[key] = updated
                stored[key] = {**stored.get(key, {}), **updated}
        if rescan:
            recomputed = stored_meter_partials(self.settings, rescan)
            self.rescanned.inc(sum(len(minutes) for minutes in rescan.values()))
            for facility_id, minutes in rescan.items():
                for minute_ms in minutes:
                    stored[(facility_id, minute_ms)] = changed[(facility_id, minute_ms)] = recomputed.get(
                        (facility_id, minute_ms), {})
        return {key: stored[key] for key in deltas if stored[key]}, changed


MinuteMeters = dict[tuple[str, int], dict[str, StoredMeter]]


def _by_minute(deltas: Iterable[MinuteDelta]) -> dict[int, list[MinuteDelta]]:
    grouped: dict[int, list[MinuteDelta]] = {}
    for delta in deltas:
        grouped.setdefault(delta.minute_ms, []).append(delta)
    return grouped


def stored_meter_rows(settings: Settings, keys: set[tuple[str, int]]) -> MinuteMeters:
    """The `meter_load_1m` rows of the (facility, minute) pairs `keys`, per pair and meter."""
    if not keys:
        return {}
    minutes = ", ".join(f"'{_iso(minute_ms)}'" for minute_ms in sorted({minute for _, minute in keys}))
    rows = questdb.query(
        settings,
        "SELECT ts, facility_id, meter_id, kw_sum, kw_avg, readings, kw_min, kw_max, last_ts FROM meter_load_1m "
        f"WHERE facility_id IN ({sql_strings({f for f, _ in keys})}) "
        f"AND ts IN ({minutes})",
    )
    stored: MinuteMeters = {}
    for row in rows:
        key = (row["facility_id"], _ms(row["ts"]))
        if key in keys:
            count = int(row["readings"])
            exact = row["kw_sum"] is not None and row["last_ts"] is not None
            kw_sum = float(row["kw_sum"]) if exact else float(row["kw_avg"]) * count
            partial = MeterPartial(kw_sum, count, float(row["kw_min"]), float(row["kw_max"]))
            stored.setdefault(key, {})[row["meter_id"]] = StoredMeter(partial, _ms(row["last_ts"]) if exact else None)
    return stored


def stored_meter_partials(settings: Settings, touched: dict[str, set[int]]) -> MinuteMeters:
    """Per (facility, minute), each meter's partial of the stored readings of the touched minutes (re-read)."""
    minutes = set().union(*touched.values())
    lo, hi = _iso(min(minutes)), _iso(max(minutes) + MINUTE_MS)
    rows = questdb.query(
        settings,
        "SELECT ts, facility_id, meter_id, sum(kw) kw_sum, count() n, min(kw) kw_min, max(kw) kw_max, "
        f"max(ts) last_ts FROM readings WHERE facility_id IN ({sql_strings(touched)}) AND ts >= '{lo}' "
        f"AND ts < '{hi}' SAMPLE BY 1m ALIGN TO CALENDAR",
    )
    stored: MinuteMeters = {}
    for row in rows:
        minute_ms = minute_of(_ms(row["ts"]))
        if minute_ms in touched.get(row["facility_id"], ()):
            partial = MeterPartial(float(row["kw_sum"]), int(row["n"]), float(row["kw_min"]), float(row["kw_max"]))
            stored.setdefault((row["facility_id"], minute_ms), {})[row["meter_id"]] = StoredMeter(
                partial, _ms(row["last_ts"]))
    return stored


def sql_strings(values: Iterable[str]) -> str:
    """`'a', 'b'`: SQL string literals for an IN list (quotes doubled)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def meter_load_frame(stored: MinuteMeters, updated_at: datetime) -> pd.DataFrame:
    rows = [
        (minute_ms, facility_id, meter_id, p.kw_sum / p.count, p.kw_min, p.kw_max, p.kw_sum / p.count / 60, p.count,
         p.kw_sum, row.last_ts_ms)
        for (facility_id, minute_ms), meters in stored.items()
        for meter_id, row in meters.items()
        for p in (row.partial,)
    ]
    columns = ["ts", "facility_id", "meter_id", "kw_avg", "kw_min", "kw_max", "kwh", "readings", "kw_sum", "last_ts"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    frame["last_ts"] = pd.to_datetime(frame["last_ts"], unit="ms", utc=True)
    frame["updated_at"] = pd.Timestamp(updated_at)
    return frame


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
