"""The MQTT contract: topics and JSON payloads of meters and gateways, validated into `Reading`s.

Two forms (README, "MQTT contract"):
- `{prefix}/readings/{facility_id}/{meter_id}`: `{"ts": RFC 3339 | epoch ms, "kw": n, "kwh": n?, "seq": int?}`
- `{prefix}/batches/{facility_id}`: `{"readings": [{"meter_id": ..., "ts": ..., "kw": ..., ...}, ...]}`

`Contract.parse` never raises: every message becomes readings and/or rejections. A
rejection of the whole message (bad topic, bad JSON, ...) carries the original bytes; in
a batch each bad reading is rejected on its own as `{"readings": [<that reading>]}`, so
the valid ones go on and a fixed DLQ entry can be republished to its topic as it is.

Two paths, one verdict: a message is first decoded by msgspec into typed structs and
checked column-wise (min/max against the bounds), which accepts a valid message for well
under a microsecond per reading; anything that path does not fully accept (a wrong type,
a bound crossed, an RFC 3339 `ts` that does not parse) is parsed again by the reading-by-reading
path below, which is the authority on what is rejected and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sems.readings import Reading, ReadingColumns
from sems.settings import Settings
from streaming.contract_fast import ID, fast_parse
from streaming.reading_fields import Invalid, epoch_ms, number, required, sequence, show, type_name


@dataclass(frozen=True)
class Rejection:
    """Input that goes to the DLQ: why, where it came from, and the bytes to keep."""

    code: str
    detail: str
    topic: str
    payload: bytes
    facility_id: str | None

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class ParsedMessage:
    """What one MQTT message yields: the valid readings of one facility and the rejections."""

    facility_id: str | None
    readings: ReadingColumns | None = None  # None when nothing was valid
    rejections: list[Rejection] = field(default_factory=list)
    batch: bool = False  # a gateway batch (already many readings), not a single reading

    @property
    def count(self) -> int:
        return len(self.readings) if self.readings is not None else 0


@dataclass(frozen=True)
class Contract:
    """The contract with its topic prefix and the physical and temporal bounds of a reading."""

    prefix: str
    kw_min: float
    kw_max: float
    max_future_ms: int
    max_age_ms: int
    max_payload_bytes: int
    max_batch_readings: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Contract:
        return cls(
            prefix=settings.mqtt_topic_prefix.rstrip("/"),
            kw_min=settings.reading_kw_min,
            kw_max=settings.reading_kw_max,
            max_future_ms=int(settings.reading_max_future_s * 1000),
            max_age_ms=int(settings.reading_max_age_s * 1000),
            max_payload_bytes=settings.bridge_max_payload_bytes,
            max_batch_readings=settings.bridge_max_batch_readings,
        )

    def subscriptions(self) -> list[str]:
        return [f"{self.prefix}/readings/+/+", f"{self.prefix}/batches/+"]

    def parse(self, topic: str, payload: bytes, *, now_ms: int) -> ParsedMessage:
        """Validate one MQTT message; never raises."""
        fast = fast_parse(self, topic, payload, now_ms)
        if fast is not None:
            facility_id, columns, batch = fast
            return ParsedMessage(facility_id, readings=columns, batch=batch)
        return self.parse_slowly(topic, payload, now_ms=now_ms)

    def parse_slowly(self, topic: str, payload: bytes, *, now_ms: int) -> ParsedMessage:
        """Reading by reading, with a precise reason for each rejection (the authority)."""
        facility_id: str | None = None
        try:
            kind, facility_id, meter_id = self.route(topic)
            body = self._decode(payload, facility_id)
            if kind == "batch":
                return self._parse_batch(topic, facility_id, body, now_ms)
            if "meter_id" in body and body["meter_id"] != meter_id:
                raise Invalid(
                    "meter_mismatch", f"payload meter_id {show(body['meter_id'])} but topic says {meter_id!r}"
                )
            reading = self._reading(facility_id, str(meter_id), body, now_ms)
            return ParsedMessage(facility_id, readings=ReadingColumns.of(facility_id, [reading]))
        except Invalid as err:
            return ParsedMessage(facility_id, rejections=[Rejection(err.code, err.detail, topic, payload, facility_id)])

    def route(self, topic: str) -> tuple[str, str, str | None]:
        head, _, rest = topic.partition(self.prefix + "/")
        parts = rest.split("/")
        if head or not rest or (parts[0], len(parts)) not in {("readings", 3), ("batches", 2)}:
            raise Invalid(
                "unknown_topic",
                f"{show(topic, 200)} is neither {self.prefix}/readings/<facility>/<meter>"
                f" nor {self.prefix}/batches/<facility>",
            )
        for name, value in zip(("facility_id", "meter_id"), parts[1:], strict=False):
            if not ID.fullmatch(value):
                raise Invalid("bad_identifier", f"{name} {show(value)} in topic must match {ID.pattern}")
        return ("batch", parts[1], None) if parts[0] == "batches" else ("reading", parts[1], parts[2])

    def _decode(self, payload: bytes, facility_id: str) -> dict[str, Any]:
        if len(payload) > self.max_payload_bytes:
            raise Invalid("payload_too_large", f"{len(payload)} bytes, limit {self.max_payload_bytes}")
        try:
            body = json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise Invalid("invalid_json", f"not UTF-8 ({err.reason} at byte {err.start})") from None
        except ValueError as err:
            raise Invalid("invalid_json", str(err)) from None
        except RecursionError:
            raise Invalid("invalid_json", "nested too deeply") from None
        if not isinstance(body, dict):
            raise Invalid("not_an_object", f"payload is a JSON {type(body).__name__}, expected an object")
        if "facility_id" in body and body["facility_id"] != facility_id:
            raise Invalid(
                "facility_mismatch", f"payload facility_id {show(body['facility_id'])} but topic says {facility_id!r}"
            )
        return body

    def _parse_batch(self, topic: str, facility_id: str, body: dict[str, Any], now_ms: int) -> ParsedMessage:
        items = required(body, "readings")
        if not isinstance(items, list):
            raise Invalid("wrong_type", f"readings: {type_name(items)}, expected a list")
        if not items:
            raise Invalid("empty_batch", "readings: the list is empty")
        if len(items) > self.max_batch_readings:
            raise Invalid("batch_too_large", f"readings: {len(items)} readings, limit {self.max_batch_readings}")
        columns, rejections = ReadingColumns(facility_id), []
        for index, item in enumerate(items):
            try:
                columns.append(self._batch_item(facility_id, item, now_ms))
            except Invalid as err:
                alone = _alone(item)
                rejections.append(Rejection(err.code, f"readings[{index}].{err.detail}", topic, alone, facility_id))
        return ParsedMessage(facility_id, readings=columns if len(columns) else None, rejections=rejections, batch=True)

    def _batch_item(self, facility_id: str, item: object, now_ms: int) -> Reading:
        if not isinstance(item, dict):
            raise Invalid("not_an_object", f"reading: a JSON {type_name(item)}, expected an object")
        if "facility_id" in item and item["facility_id"] != facility_id:
            raise Invalid(
                "facility_mismatch", f"facility_id: {show(item['facility_id'])} but topic says {facility_id!r}"
            )
        meter_id = required(item, "meter_id")
        if not isinstance(meter_id, str) or not ID.fullmatch(meter_id):
            raise Invalid("bad_identifier", f"meter_id: {show(meter_id)} must be a string matching {ID.pattern}")
        return self._reading(facility_id, meter_id, item, now_ms)

    def _reading(self, facility_id: str, meter_id: str, body: dict[str, Any], now_ms: int) -> Reading:
        ts_ms = self._timestamp(required(body, "ts"), now_ms)
        kw = number("kw", required(body, "kw"))
        if not self.kw_min <= kw <= self.kw_max:
            raise Invalid("out_of_bounds", f"kw: {kw} outside [{self.kw_min}, {self.kw_max}]")
        kwh = None if body.get("kwh") is None else number("kwh", body["kwh"])
        if kwh is not None and kwh < 0:
            raise Invalid("out_of_bounds", f"kwh: {kwh} is negative; it is a cumulative register")
        return Reading(facility_id, meter_id, ts_ms, kw, kwh, sequence(body.get("seq")))

    def _timestamp(self, value: object, now_ms: int) -> int:
        ts_ms = epoch_ms(value)
        if ts_ms > now_ms + self.max_future_ms:
            raise Invalid("ts_in_future", f"ts: {show(value)} is more than {self.max_future_ms // 1000} s ahead of now")
        if ts_ms < now_ms - self.max_age_ms:
            hint = " (epoch seconds? the contract wants milliseconds)" if 10**9 <= ts_ms < 10**11 else ""
            raise Invalid("ts_too_old", f"ts: {show(value)} is more than {self.max_age_ms // 1000} s old{hint}")
        return ts_ms


def _alone(item: object) -> bytes:
    """One rejected batch reading as a batch of its own (republishable to the batch topic)."""
    try:
        return json.dumps({"readings": [item]}).encode()
    except (RecursionError, ValueError):
        return json.dumps({"readings": [show(item, 1000)]}).encode()
