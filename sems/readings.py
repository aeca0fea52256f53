"""The reading: one meter's measurement at one instant, validated at the edge (bridge)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated meter reading. `ts_ms` is epoch milliseconds (UTC)."""

    facility_id: str
    meter_id: str
    ts_ms: int
    kw: float
    kwh: float | None = None
    seq: int | None = None
