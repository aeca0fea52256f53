"""The fleet an archived day is checked against: which meters should have reported, and each facility's kW range.

Completeness cannot come from the archived rows alone: a meter that sent nothing that day
has no rows, so it would simply be missing from a count of what arrived. The expected
meters therefore come from the control plane (PostgreSQL `meters`), each from the moment it
was registered, so a meter added at noon is expected for half a day and a meter added
after the day not at all.

The plausible kW range of a facility comes from its grid connection: `contract_demand_kw`
is the capacity the utility contract reserves at the point of connection, and no meter
behind that point can plausibly draw more than the contract times a headroom
(`SEMS_ARCHIVE_KW_HEADROOM`), nor export more: on-site generation (PV, CHP) exporting
through the same connection is the reason the MQTT contract allows negative kW at all
(`SEMS_READING_KW_MIN` < 0), and export is bounded by the same connection. The facility
model has no separate generation capacity; until it does, the connection bounds both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class KwRange:
    """The plausible kW of any one meter of a facility: [low, high]; low < 0 allows export."""

    low: float
    high: float


def kw_range(contract_demand_kw: float, headroom: float) -> KwRange:
    """Import and export both bounded by the connection: +-contract demand x headroom."""
    limit = contract_demand_kw * headroom
    return KwRange(-limit, limit)


def facility_kw_ranges(conn: Connection, headroom: float) -> dict[str, KwRange]:
    """Every registered facility's plausible kW range, by facility id."""
    rows = conn.execute(text("SELECT facility_id, contract_demand_kw FROM facilities")).all()
    return {facility: kw_range(float(contract), headroom) for facility, contract in rows}


def expected_readings(conn: Connection, day: date, interval_s: float) -> dict[tuple[str, str], int]:
    """Readings each registered meter owes for `day` at one per `interval_s`, from its registration on.

    Keyed by (facility_id, meter_id), the identity of a reading; meters registered after the
    day are not expected.
    """
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    rows = conn.execute(
        text("SELECT facility_id, meter_id, created_at FROM meters WHERE created_at < :end"), {"end": end}
    ).all()
    return {
        (facility, meter): math.ceil((end - max(start, created)).total_seconds() / interval_s)
        for facility, meter, created in rows
    }
