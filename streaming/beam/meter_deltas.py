"""What a run added to each meter-minute, so the job can update `meter_load_1m` without re-reading raw rows.

A `MinuteDelta` is one facility-minute of a run's acknowledged readings, per meter: sum, count,
extremes and the span of their timestamps. Added to the stored partial of `meter_load_1m`
(which keeps the exact `kw_sum` and the newest reading it counted, `last_ts`) it gives the new
partial, **provided the run's readings are all new to QuestDB**: none shares its key
(ts, facility_id, meter_id) with another reading of the run, and each meter's oldest is newer
than the stored `last_ts`. Otherwise a reading may have replaced a stored one (a duplicate, a
correction, a replay after a crash) and the facility-minute is recomputed from `readings`
instead (`inexact`). Before this, every run re-scanned the whole of every minute it touched:
at 100,000 readings/s that is up to 6 M rows per run, ~28 % of QuestDB's CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from streaming.beam.loads import MINUTE_MS, MeterPartial, MeterPartials

_KEYS = ["facility_id", "meter_id", "minute_ms"]


@dataclass(frozen=True)
class MinuteDelta:
    """One facility-minute of a run's readings, per meter, column-wise (a run has ~10,000 meters per minute)."""

    minute_ms: int
    meter_ids: list[str]
    kw_sum: list[float]
    count: list[int]
    kw_min: list[float]
    kw_max: list[float]
    first_ts_ms: list[int]
    last_ts_ms: list[int]
    exact: bool  # no two readings of the run share a key: nothing the run wrote replaced another of its readings
    meters: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meters", {m: i for i, m in enumerate(self.meter_ids)})

    def partial(self, index: int) -> MeterPartial:
        return MeterPartial(self.kw_sum[index], self.count[index], self.kw_min[index], self.kw_max[index])


@dataclass(frozen=True, slots=True)
class StoredMeter:
    """A meter's row in `meter_load_1m`: its partial and the newest reading counted (None: written before `last_ts`)."""

    partial: MeterPartial
    last_ts_ms: int | None


def chunk_deltas(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (facility, meter, minute) of a `readings` frame QuestDB acknowledged: sum, count, extremes, span, repeats.

    Vectorized (numpy sort and segment reductions): a chunk is 100,000 readings, and pandas'
    group-by took ~45 ms of the job's CPU per chunk.
    """
    ts_ms = frame["ts"].to_numpy(dtype="datetime64[ms]").astype("int64")
    kw = frame["kw"].to_numpy(dtype="float64")
    facility, meter = _codes(frame["facility_id"]), _codes(frame["meter_id"])
    return _reduce(facility, meter, ts_ms - ts_ms % MINUTE_MS,
                   {"kw_sum": kw, "count": np.ones(len(kw), dtype=np.int64), "kw_min": kw, "kw_max": kw,
                    "first_ts_ms": ts_ms, "last_ts_ms": ts_ms, "repeat": np.zeros(len(kw), dtype=bool)})


def merge_chunk_deltas(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' deltas as one per (facility, meter, minute); spans of one meter that overlap count as repeats.

    Two chunks can hold readings of one meter-minute (chunks are cut by time); their keys can only
    coincide where their time spans overlap, which is then treated as a possible repeat.
    """
    deltas = pd.concat(parts, ignore_index=True)
    return _reduce(_codes(deltas["facility_id"]), _codes(deltas["meter_id"]), deltas["minute_ms"].to_numpy(),
                   {name: deltas[name].to_numpy() for name in _VALUES})


_VALUES = ("kw_sum", "count", "kw_min", "kw_max", "first_ts_ms", "last_ts_ms", "repeat")
_Codes = tuple[np.ndarray, np.ndarray]  # (codes, the values they index)


def _codes(column: pd.Series) -> _Codes:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories.to_numpy(dtype=object)
    codes, uniques = pd.factorize(column)
    return codes, np.asarray(uniques, dtype=object)


def _reduce(facility: _Codes, meter: _Codes, minute_ms: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows (readings, or deltas) folded per (facility, meter, minute); a row whose span starts at or before
    the end of an earlier one of its group is a repeat (for readings: the same timestamp twice)."""
    order = np.lexsort((values["first_ts_ms"], minute_ms, meter[0], facility[0]))
    f, m, minute = facility[0][order], meter[0][order], minute_ms[order]
    rows = {name: column[order] for name, column in values.items()}
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (f[1:] == f[:-1]) & (m[1:] == m[:-1]) & (minute[1:] == minute[:-1])
    starts = np.flatnonzero(~same)
    if not len(starts):
        return pd.DataFrame({"facility_id": [], "meter_id": [], "minute_ms": [], **rows})
    overlaps = np.zeros(len(order), dtype=bool)
    overlaps[1:] = same[1:] & (rows["first_ts_ms"][1:] <= _running_max_in_group(rows["last_ts_ms"], same)[:-1])
    return pd.DataFrame({
        "facility_id": facility[1][f[starts]], "meter_id": meter[1][m[starts]], "minute_ms": minute[starts],
        "kw_sum": np.add.reduceat(rows["kw_sum"], starts),
        "count": np.add.reduceat(rows["count"], starts),
        "kw_min": np.minimum.reduceat(rows["kw_min"], starts),
        "kw_max": np.maximum.reduceat(rows["kw_max"], starts),
        "first_ts_ms": rows["first_ts_ms"][starts],
        "last_ts_ms": np.maximum.reduceat(rows["last_ts_ms"], starts),
        "repeat": np.logical_or.reduceat(rows["repeat"] | overlaps, starts),
    })


def _running_max_in_group(values: np.ndarray, same: np.ndarray) -> np.ndarray:
    """The running maximum of `values`, restarting where `same` is False (a new group)."""
    relative = values - values.min()
    span = int(relative.max()) + 1
    offset = np.cumsum(~same) * span  # each group above every earlier one: the running max cannot leak across
    return np.maximum.accumulate(relative + offset) - offset + values.min()


def minute_deltas(deltas: pd.DataFrame) -> Iterator[tuple[str, MinuteDelta]]:
    """(facility_id, MinuteDelta) per facility-minute of merged deltas, in (facility, minute) order."""
    facility, minute = deltas["facility_id"].to_numpy(dtype=object), deltas["minute_ms"].to_numpy()
    order = np.lexsort((minute, facility))
    facility, minute = facility[order], minute[order]
    columns = {name: deltas[name].to_numpy()[order] for name in ("meter_id", *_VALUES)}
    bounds = np.flatnonzero(np.append(True, (facility[1:] != facility[:-1]) | (minute[1:] != minute[:-1])))
    for start, end in zip(bounds, np.append(bounds[1:], len(order)), strict=True):
        part = {name: column[start:end] for name, column in columns.items()}
        yield str(facility[start]), MinuteDelta(
            int(minute[start]), part["meter_id"].tolist(), part["kw_sum"].tolist(), part["count"].tolist(),
            part["kw_min"].tolist(), part["kw_max"].tolist(), part["first_ts_ms"].tolist(),
            part["last_ts_ms"].tolist(), exact=not bool(part["repeat"].any()),
        )


def merge_minute_deltas(deltas: Iterable[MinuteDelta]) -> MinuteDelta:
    """Several deltas of one facility-minute (from different bundles) as one; overlapping spans make it inexact."""
    parts = list(deltas)
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat([_frame(d) for d in parts], ignore_index=True)
    merged = merge_chunk_deltas([frame])
    _, delta = next(minute_deltas(merged))
    exact = delta.exact and all(d.exact for d in parts)
    return MinuteDelta(delta.minute_ms, delta.meter_ids, delta.kw_sum, delta.count, delta.kw_min, delta.kw_max,
                       delta.first_ts_ms, delta.last_ts_ms, exact)


def _frame(delta: MinuteDelta) -> pd.DataFrame:
    return pd.DataFrame({
        "facility_id": "-", "meter_id": delta.meter_ids, "minute_ms": delta.minute_ms, "kw_sum": delta.kw_sum,
        "count": delta.count, "kw_min": delta.kw_min, "kw_max": delta.kw_max, "first_ts_ms": delta.first_ts_ms,
        "last_ts_ms": delta.last_ts_ms, "repeat": not delta.exact,
    })


def updated_meters(delta: MinuteDelta, stored: dict[str, StoredMeter]) -> dict[str, StoredMeter] | None:
    """The meters the delta changes, added to their stored rows; None if that would not be exact (recompute instead)."""
    if not delta.exact:
        return None
    updated: dict[str, StoredMeter] = {}
    for meter_id, index in delta.meters.items():
        before = stored.get(meter_id)
        if before is None:
            updated[meter_id] = StoredMeter(delta.partial(index), delta.last_ts_ms[index])
        elif before.last_ts_ms is None or delta.first_ts_ms[index] <= before.last_ts_ms:
            return None  # a reading at or before one already counted may have replaced it
        else:
            updated[meter_id] = StoredMeter(before.partial.merge(delta.partial(index)), delta.last_ts_ms[index])
    return updated


def partials_of(stored: dict[str, StoredMeter]) -> MeterPartials:
    return MeterPartials((meter_id, row.partial) for meter_id, row in stored.items())
