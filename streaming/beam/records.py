"""The Kafka reading record (the bridge's format) and its parse into typed reading batches or DLQ entries.

Record: key = facility_id (utf-8); value = JSON
`{"v": 1, "facility_id": ..., "readings": [{"meter_id", "ts_ms", "kw", "kwh"?, "seq"?}, ...]}`;
headers `trace_id` and `received_at_ms`. The bridge validated the readings already; a record
that still does not parse is returned as a `DlqEntry` with the reason, never raised.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sems.readings import Reading

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One consumed Kafka record, as read from an offset range."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key == name:
                return raw.decode("utf-8", "replace") if raw is not None else None
        return None


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """The readings of one facility carried by one Kafka record: the pipeline's element, never one reading."""

    facility_id: str
    readings: tuple[Reading, ...]
    trace_id: str = "-"


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """A record that could not be parsed: the original bytes plus why."""

    record: KafkaRecord
    reason: str


class RecordError(ValueError):
    """Why a record value is not a reading batch."""


def parse_record(record: KafkaRecord) -> ReadingBatch | DlqEntry:
    """The record's reading batch, or a DLQ entry naming what is wrong."""
    try:
        body = json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return DlqEntry(record, f"value is not JSON: {exc}")
    try:
        return _batch(body, record)
    except RecordError as exc:
        return DlqEntry(record, str(exc))


def _batch(body: Any, record: KafkaRecord) -> ReadingBatch:
    if not isinstance(body, dict):
        raise RecordError("value is not a JSON object")
    if body.get("v") != RECORD_VERSION:
        raise RecordError(f"unsupported record version {body.get('v')!r} (expected {RECORD_VERSION})")
    facility_id = body.get("facility_id")
    if not isinstance(facility_id, str) or not facility_id:
        raise RecordError("facility_id missing or not a string")
    if record.key is not None and record.key.decode("utf-8", "replace") != facility_id:
        raise RecordError(f"key {record.key!r} does not match facility_id {facility_id!r}")
    items = body.get("readings")
    if not isinstance(items, list) or not items:
        raise RecordError("readings missing or empty")
    readings = tuple(_reading(facility_id, item, index) for index, item in enumerate(items))
    return ReadingBatch(facility_id, readings, record.header("trace_id") or "-")


def _reading(facility_id: str, item: Any, index: int) -> Reading:
    if not isinstance(item, dict):
        raise RecordError(f"readings[{index}] is not an object")
    meter_id: Any = item.get("meter_id")
    ts_ms: Any = item.get("ts_ms")
    kw: Any = item.get("kw")
    kwh: Any = item.get("kwh")
    seq: Any = item.get("seq")
    if not isinstance(meter_id, str) or not meter_id:
        raise RecordError(f"readings[{index}].meter_id missing or not a string")
    if not _is_int(ts_ms) or ts_ms <= 0:
        raise RecordError(f"readings[{index}].ts_ms must be a positive integer (epoch ms)")
    if not _is_number(kw):
        raise RecordError(f"readings[{index}].kw must be a finite number")
    if kwh is not None and not _is_number(kwh):
        raise RecordError(f"readings[{index}].kwh must be a finite number or null")
    if seq is not None and not _is_int(seq):
        raise RecordError(f"readings[{index}].seq must be an integer or null")
    return Reading(facility_id, meter_id, ts_ms, float(kw), None if kwh is None else float(kwh), seq)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
