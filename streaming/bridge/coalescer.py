"""Single readings of one facility merged into one Kafka record for a few milliseconds.

Kafka clients pay per record, not per byte: a record with many readings is what lets the
bridge and the Beam job keep up (DESIGN.md, runtime notes). A gateway batch is already
such a record and does not pass through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sems.readings import ReadingColumns
from streaming.bridge.acks import Ticket


@dataclass
class FacilityBatch:
    """Readings of one facility waiting to be sent, and the MQTT messages they came from."""

    readings: ReadingColumns
    tickets: list[Ticket] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # readings per ticket, in the same order

    @property
    def facility_id(self) -> str:
        return self.readings.facility_id

    @property
    def trace_ids(self) -> list[str]:
        return [t.trace_id for t in self.tickets]

    @property
    def received_at_ms(self) -> int:
        return min(t.received_at_ms for t in self.tickets)


class Coalescer:
    """Per-facility buffers; `drain` empties them all."""

    def __init__(self, max_readings: int) -> None:
        self.max_readings = max_readings
        self._batches: dict[str, FacilityBatch] = {}

    def add(self, ticket: Ticket, readings: ReadingColumns) -> FacilityBatch | None:
        """Buffer `readings`; returns the facility's batch when it is full (to be sent now)."""
        facility_id = readings.facility_id
        batch = self._batches.get(facility_id)
        if batch is None:
            batch = self._batches[facility_id] = FacilityBatch(ReadingColumns(facility_id))
        batch.readings.extend(readings)
        batch.tickets.append(ticket)
        batch.counts.append(len(readings))
        if len(batch.readings) >= self.max_readings:
            return self._batches.pop(facility_id)
        return None

    def drain(self) -> list[FacilityBatch]:
        batches, self._batches = list(self._batches.values()), {}
        return batches

    def __bool__(self) -> bool:
        return bool(self._batches)
