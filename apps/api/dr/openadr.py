"""OpenADR 3 event notifications (the subset SEMS acts on), validated and normalised into a `DrRequest`.

See `payloads` for the revision rule. Event window: from the earliest interval start to the
latest interval end (an interval without its own period follows the event's, shifted by
its position). Payloads: the highest `SIMPLE` level (0-3) and the lowest
`IMPORT_CAPACITY_LIMIT` (kW) over the intervals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from apps.api.dr.payloads import DrRequest

REVISION_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# Revisions are stored as PostgreSQL integers: 2 x seconds since the epoch (+1) must stay below 2**31.
REVISION_END = REVISION_EPOCH + timedelta(seconds=2**30 - 1)
FACILITY_TARGET_TYPES = ("RESOURCE_NAME", "VEN_NAME")
PAYLOAD_TYPES = ("SIMPLE", "IMPORT_CAPACITY_LIMIT")


class IntervalPeriod(BaseModel):
    start: AwareDatetime
    duration: timedelta

    @model_validator(mode="after")
    def _positive(self) -> IntervalPeriod:
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        return self


class ValuesMap(BaseModel):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    values: Annotated[list[float | int | str], Field(min_length=1, max_length=1000)]


class Interval(BaseModel):
    id: int
    intervalPeriod: IntervalPeriod | None = None  # noqa: N815 - OpenADR 3 field names
    payloads: Annotated[list[ValuesMap], Field(min_length=1)]


class Event(BaseModel):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    objectType: Literal["EVENT"] = "EVENT"  # noqa: N815
    programID: str | None = None  # noqa: N815
    modificationDateTime: AwareDatetime  # noqa: N815
    intervalPeriod: IntervalPeriod | None = None  # noqa: N815
    targets: Annotated[list[ValuesMap], Field(min_length=1)]
    intervals: Annotated[list[Interval], Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _meaningful(self) -> Event:
        if not REVISION_EPOCH <= self.modificationDateTime < REVISION_END:
            raise ValueError(f"modificationDateTime must be from {REVISION_EPOCH:%Y-%m-%d} to before "
                             f"{REVISION_END:%Y-%m-%d} (the revision is derived from it)")
        if not self.facility_ids():
            raise ValueError(f"targets name no facility (types {', '.join(FACILITY_TARGET_TYPES)})")
        kinds = {p.type for i in self.intervals for p in i.payloads}
        if not kinds & set(PAYLOAD_TYPES):
            raise ValueError(f"intervals carry no payload SEMS acts on ({', '.join(PAYLOAD_TYPES)})")
        if not all(0 <= level <= 3 for level in self.payload_values("SIMPLE")):
            raise ValueError("SIMPLE levels must be 0, 1, 2 or 3")
        if self.intervalPeriod is None and any(i.intervalPeriod is None for i in self.intervals):
            raise ValueError("intervalPeriod is required on the event or on every interval")
        self.window()
        return self

    def facility_ids(self) -> list[str]:
        ids = {str(v) for t in self.targets if t.type in FACILITY_TARGET_TYPES for v in t.values}
        return sorted(ids)

    def window(self) -> tuple[datetime, datetime]:
        periods = [i.intervalPeriod or self._nth(n) for n, i in enumerate(self.intervals)]
        return min(p.start for p in periods), max(p.start + p.duration for p in periods)

    def _nth(self, n: int) -> IntervalPeriod:
        assert self.intervalPeriod is not None
        period = self.intervalPeriod
        return IntervalPeriod(start=period.start + n * period.duration, duration=period.duration)

    def payload_values(self, kind: str) -> list[float]:
        values = [v for i in self.intervals for p in i.payloads if p.type == kind for v in p.values]
        if not all(isinstance(v, int | float) for v in values):
            raise ValueError(f"{kind} values must be numbers")
        return [float(v) for v in values]


class Notification(BaseModel):
    objectType: Literal["EVENT"]  # noqa: N815
    operation: Literal["POST", "PUT", "DELETE"]
    object: Event

    def normalise(self) -> DrRequest:
        event = self.object
        starts_at, ends_at = event.window()
        levels, limits = event.payload_values("SIMPLE"), event.payload_values("IMPORT_CAPACITY_LIMIT")
        seconds = int((event.modificationDateTime - REVISION_EPOCH).total_seconds())
        return DrRequest(
            event_id=event.id, revision=2 * seconds + (self.operation == "DELETE"), form="openadr3",
            operation="cancel" if self.operation == "DELETE" else "upsert", facility_ids=event.facility_ids(),
            starts_at=starts_at, ends_at=ends_at,
            simple_level=int(max(levels)) if levels else None, capacity_limit_kw=min(limits) if limits else None,
        )
