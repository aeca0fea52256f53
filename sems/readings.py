"""The reading: one meter's measurement at one instant, validated at the edge (bridge).

`Reading` is one reading; `ReadingColumns` is how the hot path carries many readings of one
facility: five lists instead of one object per reading (building, pickling and framing a
Python object per reading cost ~10 us each; a list element costs tens of nanoseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated meter reading. `ts_ms` is epoch milliseconds (UTC)."""

    facility_id: str
    meter_id: str
    ts_ms: int
    kw: float
    kwh: float | None = None
    seq: int | None = None


@dataclass(slots=True)
class ReadingColumns:
    """Validated readings of one facility, column by column (row i is one reading)."""

    facility_id: str
    meter_id: list[str] = field(default_factory=list)
    ts_ms: list[int] = field(default_factory=list)
    kw: list[float] = field(default_factory=list)
    kwh: list[float | None] = field(default_factory=list)
    seq: list[int | None] = field(default_factory=list)

    @classmethod
    def of(cls, facility_id: str, readings: Iterable[Reading]) -> ReadingColumns:
        columns = cls(facility_id)
        for reading in readings:
            columns.append(reading)
        return columns

    def __len__(self) -> int:
        return len(self.ts_ms)

    def __iter__(self) -> Iterator[Reading]:
        for row in zip(self.meter_id, self.ts_ms, self.kw, self.kwh, self.seq, strict=True):
            yield Reading(self.facility_id, *row)

    def append(self, reading: Reading) -> None:
        self.meter_id.append(reading.meter_id)
        self.ts_ms.append(reading.ts_ms)
        self.kw.append(reading.kw)
        self.kwh.append(reading.kwh)
        self.seq.append(reading.seq)

    def extend(self, other: ReadingColumns) -> None:
        self.meter_id.extend(other.meter_id)
        self.ts_ms.extend(other.ts_ms)
        self.kw.extend(other.kw)
        self.kwh.extend(other.kwh)
        self.seq.extend(other.seq)
