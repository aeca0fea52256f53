"""The Kafka records the bridge writes: readings of one facility (`sensor-readings`) and rejections (the DLQ).

Readings record: key = facility id, value = the readings as columns (row i of every list is one reading)
`{"v": 2, "facility_id": ..., "meter_id": [...], "ts_ms": [...], "kw": [...], "kwh": [...], "seq": [...]}`
(`kwh` and `seq` entries may be null; version 1, `{"v": 1, "facility_id", "readings": [{...}, ...]}`, is
still read by the job), headers `trace_id` (once per MQTT message merged into the record, in receive order),
`trace_readings` (only when several messages were merged: how many readings each brought, comma-separated
decimals in the same order, so reading i is traced to its own message) and `received_at_ms` (decimal
digits; when the first of those messages arrived).
DLQ record: key = facility id when known, value =
`{"reason", "topic", "payload_b64", "payload_bytes", "payload_truncated", "received_at_ms"}`, header
`trace_id`. The payload is kept up to `DLQ_PAYLOAD_MAX_BYTES` (an oversize payload would make the
DLQ record itself too large for Kafka); `payload_bytes` is the original size.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from sems.readings import ReadingColumns
from streaming.contract import Rejection

RECORD_VERSION = 2
DLQ_PAYLOAD_MAX_BYTES = 256 * 1024
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class KafkaRecord:
    """One record ready to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def readings_record(
    topic: str,
    readings: ReadingColumns,
    trace_ids: Sequence[str],
    received_at_ms: int,
    trace_readings: Sequence[int],
) -> KafkaRecord:
    """The record of `readings`, merged from the messages `trace_ids` that brought `trace_readings` each."""
    value = {
        "v": RECORD_VERSION,
        "facility_id": readings.facility_id,
        "meter_id": readings.meter_id,
        "ts_ms": readings.ts_ms,
        "kw": readings.kw,
        "kwh": readings.kwh,
        "seq": readings.seq,
    }
    headers: Headers = [("trace_id", t.encode()) for t in trace_ids]
    if len(trace_ids) > 1:
        headers.append(("trace_readings", ",".join(map(str, trace_readings)).encode()))
    headers.append(("received_at_ms", str(received_at_ms).encode()))
    # The readings were validated finite, so msgspec's JSON (no NaN) is exact; it encodes ~10x faster than json.
    return KafkaRecord(topic, readings.facility_id.encode(), msgspec.json.encode(value), headers)


def dlq_record(topic: str, rejection: Rejection, trace_id: str, received_at_ms: int) -> KafkaRecord:
    key = rejection.facility_id.encode() if rejection.facility_id else None
    value = _dlq_value(rejection.reason, rejection.topic, rejection.payload, received_at_ms)
    return KafkaRecord(topic, key, value, [("trace_id", trace_id.encode())])


def too_large_record(dlq_topic: str, record: KafkaRecord, reason: str) -> KafkaRecord:
    """A record Kafka refuses for its size, as a DLQ entry (its start kept), so it is neither lost nor stuck."""
    received = [v for k, v in record.headers if k == "received_at_ms"]
    received_at_ms = int(received[0]) if received else 0
    headers = [(k, v) for k, v in record.headers if k in ("trace_id", "trace_readings")]
    value = _dlq_value(f"record_too_large: {reason}"[:500], record.topic, record.value, received_at_ms)
    return KafkaRecord(dlq_topic, record.key, value, headers)


def _dlq_value(reason: str, topic: str, payload: bytes, received_at_ms: int) -> bytes:
    kept = payload[:DLQ_PAYLOAD_MAX_BYTES]
    return _json({
        "reason": reason,
        "topic": topic,
        "payload_b64": base64.b64encode(kept).decode("ascii"),
        "payload_bytes": len(payload),
        "payload_truncated": len(kept) < len(payload),
        "received_at_ms": received_at_ms,
    })


def _json(value: object) -> bytes:
    # Readings are validated finite, so allow_nan=False only guards against a bug upstream.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
