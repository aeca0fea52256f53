"""The two forms a utility may post, validated and normalised into one `DrRequest`.

- OpenADR 3 notification: `{"objectType": "EVENT", "operation": "POST"|"PUT"|"DELETE", "object": {event}}`
  with the event's `intervalPeriod`, `intervals` (payloads `SIMPLE` levels 0-3 or
  `IMPORT_CAPACITY_LIMIT` kW) and `targets` (`RESOURCE_NAME` / `VEN_NAME` values = facility ids).
  OpenADR 3 has no revision number: the revision is derived from `modificationDateTime`
  (seconds since 2024-01-01, doubled; +1 for DELETE), so a redelivery maps to the same one.
- Plain JSON: `event_id`, `facility_ids`, `start`, `end`, `target_reduction_kw`
  (+ optional `revision`, `status: "cancelled"`, `callback_url`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

FacilityId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class DrRequest(BaseModel):
    """What the saga needs from any form: one revision of one event, or its cancellation."""

    event_id: str
    revision: int
    form: Literal["openadr3", "plain"]
    operation: Literal["upsert", "cancel"]
    facility_ids: list[str]
    starts_at: datetime
    ends_at: datetime
    target_reduction_kw: float | None = None
    simple_level: int | None = None
    capacity_limit_kw: float | None = None
    callback_url: str | None = None


class PlainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    revision: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    facility_ids: Annotated[list[FacilityId], Field(min_length=1, max_length=1000)]
    start: AwareDatetime
    end: AwareDatetime
    target_reduction_kw: Annotated[float, Field(gt=0, le=1e6)]
    status: Literal["scheduled", "cancelled"] = "scheduled"
    callback_url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)] | None = None

    @model_validator(mode="after")
    def _window(self) -> PlainEvent:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def normalise(self) -> DrRequest:
        return DrRequest(
            event_id=self.event_id, revision=self.revision, form="plain",
            operation="cancel" if self.status == "cancelled" else "upsert", facility_ids=sorted(set(self.facility_ids)),
            starts_at=self.start, ends_at=self.end, target_reduction_kw=self.target_reduction_kw,
            callback_url=self.callback_url,
        )




def unstorable_text(document: object) -> str | None:
    """Where `document` (parsed JSON) holds text PostgreSQL cannot store, and why; None if nowhere.

    The whole document is kept (jsonb) and its ids become text columns: PostgreSQL refuses
    NUL (U+0000) in both, and a lone surrogate (a valid JSON escape, not a character) cannot
    be encoded at all. Schemathesis found the first as a 500; now it is a 422 naming the place.
    Iterative, so a deeply nested document cannot exhaust the stack here.
    """
    pending: list[tuple[object, str]] = [(document, "$")]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return f"{where} contains NUL (U+0000)"
            try:
                value.encode()
            except UnicodeEncodeError:
                return f"{where} contains a lone surrogate, not a Unicode character"
        elif isinstance(value, dict):
            for key, item in value.items():
                pending += [(key, f"{where} (a key)"), (item, f"{where}.{key}")]
        elif isinstance(value, list):
            pending += [(item, f"{where}[{n}]") for n, item in enumerate(value)]
    return None


def parse(document: object) -> DrRequest:
    """Validate either form (raises pydantic `ValidationError` with every problem found)."""
    from apps.api.dr.openadr import Notification  # the OpenADR models build on DrRequest

    if isinstance(document, dict) and "objectType" in document:
        return Notification.model_validate(document).normalise()
    return PlainEvent.model_validate(document).normalise()
