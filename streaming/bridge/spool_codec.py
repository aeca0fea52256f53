"""Binary encoding of Kafka records inside a spool frame (length-prefixed fields, no parsing of values)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from streaming.bridge.records import KafkaRecord

_LEN = struct.Struct(">i")  # -1 encodes a missing key


def encode_records(records: Sequence[KafkaRecord]) -> bytes:
    parts: list[bytes] = [_LEN.pack(len(records))]
    for record in records:
        parts += [_field(record.topic.encode()), _field(record.key), _field(record.value)]
        parts.append(_LEN.pack(len(record.headers)))
        for name, value in record.headers:
            parts += [_field(name.encode()), _field(value)]
    return b"".join(parts)


def decode_records(data: bytes) -> list[KafkaRecord]:
    view = memoryview(data)
    count, pos = _int(view, 0)
    records = []
    for _ in range(count):
        topic, pos = _bytes(view, pos)
        key, pos = _bytes(view, pos)
        value, pos = _bytes(view, pos)
        n_headers, pos = _int(view, pos)
        headers = []
        for _ in range(n_headers):
            name, pos = _bytes(view, pos)
            header, pos = _bytes(view, pos)
            headers.append(((name or b"").decode(), header or b""))
        records.append(KafkaRecord((topic or b"").decode(), key, value or b"", headers))
    return records


def _field(value: bytes | None) -> bytes:
    return _LEN.pack(-1) if value is None else _LEN.pack(len(value)) + value


def _int(view: memoryview, pos: int) -> tuple[int, int]:
    return _LEN.unpack_from(view, pos)[0], pos + _LEN.size


def _bytes(view: memoryview, pos: int) -> tuple[bytes | None, int]:
    length, pos = _int(view, pos)
    if length < 0:
        return None, pos
    return bytes(view[pos : pos + length]), pos + length
