"""The disk spool: durable across a restart, drained in order, bounded (fill), robust to a torn tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming.bridge.records import KafkaRecord
from streaming.bridge.spool import Spool


def records(start: int, n: int) -> list[KafkaRecord]:
    return [KafkaRecord("sensor-readings", b"fac-1" if i % 2 else None, f"r{i}".encode(), [("trace_id", b"t")])
            for i in range(start, start + n)]


def test_records_survive_a_restart_and_drain_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=200)  # tiny segments: many files
    for start in range(0, 50, 5):
        spool.append(records(start, 5))
    reopened = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=200)  # a bridge restart
    assert reopened.bytes == spool.bytes > 0 and len(list(tmp_path.glob("*.seg"))) > 1
    sent: list[KafkaRecord] = []
    assert reopened.drain(sent.extend, max_frames=3) == 15
    again = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=200)  # restart mid-drain: the cursor holds
    again.drain(sent.extend, max_frames=100)
    assert sent == records(0, 50)
    assert not again and again.bytes == 0 and not list(tmp_path.glob("*.seg"))


def test_a_failed_publish_keeps_the_frame_for_the_next_drain(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=1_000_000)
    spool.append(records(0, 2))

    def refuse(_: list[KafkaRecord]) -> None:
        raise TimeoutError("kafka away")

    with pytest.raises(TimeoutError):
        spool.drain(refuse, max_frames=1)
    sent: list[KafkaRecord] = []
    spool.drain(sent.extend, max_frames=1)
    assert sent == records(0, 2)


def test_fill_crosses_the_high_water_mark(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000, segment_bytes=1_000_000)
    while not spool.above_high_water:
        spool.append([KafkaRecord("t", None, bytes(range(256)) * 2, [])])
    assert 0.8 <= spool.fill < 1.5


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=1_000_000)
    spool.append(records(0, 3))
    [segment] = tmp_path.glob("*.seg")
    with open(segment, "ab") as f:
        f.write(b"\x00\x00\x01\x00garbage")  # a crash in the middle of an append (never fsynced nor acked)
    sent: list[KafkaRecord] = []
    Spool(tmp_path, max_bytes=10_000_000, segment_bytes=1_000_000).drain(sent.extend, max_frames=10)
    assert sent == records(0, 3)
