"""The Kafka records the bridge writes: readings of one facility (`sensor-readings`) and rejections (the DLQ).

Readings record: key = facility id, value =
`{"v": 1, "facility_id": ..., "readings": [{"meter_id", "ts_ms", "kw", "kwh", "seq"}, ...]}`,
headers `trace_id` (once per MQTT message merged into the record, in receive order) and
`received_at_ms` (decimal digits; when the first of those messages arrived).
DLQ record: key = facility id when known, value =
`{"reason", "topic", "payload_b64", "received_at_ms"}`, header `trace_id`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sems.readings import Reading
from streaming.contract import Rejection

RECORD_VERSION = 1
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class KafkaRecord:
    """One record ready to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def readings_record(
    topic: str, facility_id: str, readings: Sequence[Reading], trace_ids: Sequence[str], received_at_ms: int
) -> KafkaRecord:
    value = {
        "v": RECORD_VERSION,
        "facility_id": facility_id,
        "readings": [
            {"meter_id": r.meter_id, "ts_ms": r.ts_ms, "kw": r.kw, "kwh": r.kwh, "seq": r.seq} for r in readings
        ],
    }
    headers = [("trace_id", t.encode()) for t in trace_ids] + [("received_at_ms", str(received_at_ms).encode())]
    return KafkaRecord(topic, facility_id.encode(), _json(value), headers)


def dlq_record(topic: str, rejection: Rejection, trace_id: str, received_at_ms: int) -> KafkaRecord:
    value = {
        "reason": rejection.reason,
        "topic": rejection.topic,
        "payload_b64": base64.b64encode(rejection.payload).decode("ascii"),
        "received_at_ms": received_at_ms,
    }
    key = rejection.facility_id.encode() if rejection.facility_id else None
    return KafkaRecord(topic, key, _json(value), [("trace_id", trace_id.encode())])


def _json(value: object) -> bytes:
    # Readings are validated finite, so allow_nan=False only guards against a bug upstream.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
