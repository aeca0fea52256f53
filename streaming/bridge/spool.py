"""The bridge's durable disk spool: Kafka records kept in order while Kafka is unreachable (C4).

Append-only segment files `<n>.seg` in `bridge_spool_dir`; each frame is one publish cycle's
records, zlib-compressed, prefixed by its length and CRC32, and fsynced before `append`
returns (only then may the MQTT messages behind it be acknowledged). `drain` hands frames
oldest first to a publisher and moves a cursor (`cursor`, the segment and byte offset of
the next frame) after each acknowledged frame; an emptied segment is deleted. A crash
between publish and cursor write re-sends one frame: harmless, QuestDB deduplicates.
A torn frame at the end of a segment (crash while appending) is ignored: it was never fsynced,
so its messages were never acknowledged and the broker redelivers them.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from streaming.bridge.records import KafkaRecord
from streaming.bridge.spool_codec import decode_records, encode_records

FRAME = struct.Struct(">II")  # compressed length, crc32 of the compressed bytes
HIGH_WATER = 0.8


class Spool:
    """Bounded, ordered, durable: `append` batches, `drain` them to a publisher, `fill` for backpressure."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self.dir = directory
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cursor_path = self.dir / "cursor"
        self._segments = sorted(int(p.stem) for p in self.dir.glob("*.seg"))
        self._bytes = sum(self._path(n).stat().st_size for n in self._segments)
        self._cursor = self._read_cursor()

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def fill(self) -> float:
        return self._bytes / self.max_bytes

    @property
    def above_high_water(self) -> bool:
        return self.fill >= HIGH_WATER

    def __bool__(self) -> bool:
        return bool(self._segments)

    def append(self, records: Sequence[KafkaRecord]) -> None:
        """Write one frame durably (fsync) at the end of the newest segment."""
        body = zlib.compress(encode_records(records), 1)
        frame = FRAME.pack(len(body), zlib.crc32(body)) + body
        if not self._segments or self._path(self._segments[-1]).stat().st_size >= self.segment_bytes:
            self._segments.append(self._segments[-1] + 1 if self._segments else 1)
        with open(self._path(self._segments[-1]), "ab") as segment:
            segment.write(frame)
            segment.flush()
            os.fsync(segment.fileno())
        self._bytes += len(frame)

    def drain(self, publish: Callable[[list[KafkaRecord]], None], max_frames: int) -> int:
        """Publish up to `max_frames` frames oldest first (publish raises to stop); returns records published."""
        published = frames = 0
        while self._segments and frames < max_frames:
            number, offset = self._cursor
            if number != self._segments[0]:
                number, offset = self._segments[0], 0
            frame = self._read_frame(number, offset)
            if frame is None:  # end of the segment (or a torn tail): it is done
                self._drop_segment(number)
                continue
            records, size = frame
            publish(records)
            published, frames = published + len(records), frames + 1
            self._cursor = (number, offset + size)
            self._write_cursor()
        return published

    def _read_frame(self, number: int, offset: int) -> tuple[list[KafkaRecord], int] | None:
        with open(self._path(number), "rb") as segment:
            segment.seek(offset)
            head = segment.read(FRAME.size)
            if len(head) < FRAME.size:
                return None
            length, crc = FRAME.unpack(head)
            body = segment.read(length)
        if len(body) < length or zlib.crc32(body) != crc:
            return None
        return decode_records(zlib.decompress(body)), FRAME.size + length

    def _drop_segment(self, number: int) -> None:
        path = self._path(number)
        self._bytes -= path.stat().st_size
        path.unlink()
        self._segments.remove(number)
        self._cursor = (self._segments[0], 0) if self._segments else (0, 0)
        self._write_cursor()

    def _path(self, number: int) -> Path:
        return self.dir / f"{number:012d}.seg"

    def _read_cursor(self) -> tuple[int, int]:
        try:
            number, offset = self._cursor_path.read_text().split()
            return int(number), int(offset)
        except (OSError, ValueError):
            return (self._segments[0], 0) if self._segments else (0, 0)

    def _write_cursor(self) -> None:
        # Not fsynced: a lost cursor only means one more re-sent frame (deduplicated downstream).
        tmp = self._cursor_path.with_suffix(".tmp")
        tmp.write_text(f"{self._cursor[0]} {self._cursor[1]}")
        tmp.replace(self._cursor_path)
