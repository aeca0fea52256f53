"""The bridge's Kafka sink on the real broker: a large spool frame gets a deadline that grows with its size.

With a fixed deadline a frame that Kafka cannot acknowledge in time was re-sent forever (every
attempt delivering it once more): a drain livelock seen under load after a Kafka outage.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from sems.settings import Settings
from sems.stores import kafka
from streaming.bridge.acks import AckLedger
from streaming.bridge.kafka_sink import KafkaSink
from streaming.bridge.records import KafkaRecord
from streaming.bridge.spool import Spool
from tests.support import TopicTail, wait_until

FRAME_RECORDS, RECORD_BYTES = 24, 128 * 1024  # one 3 MiB frame (incompressible, so the spool keeps its size)


def sink_with(settings: Settings, spool: Spool, **deadline: float) -> KafkaSink:
    tuned = settings.model_copy(update=deadline)
    return KafkaSink(tuned, lambda: kafka.producer(tuned), AckLedger(lambda *_: None), spool)


def test_a_large_spool_frame_drains_within_a_deadline_sized_to_it(
    settings: Settings, tail: Callable[[str], TopicTail], tmp_path: Path
) -> None:
    run = uuid.uuid4().hex
    frame = [KafkaRecord(settings.kafka_readings_dlq_topic, run.encode(), os.urandom(RECORD_BYTES), [])
             for _ in range(FRAME_RECORDS)]
    spool = Spool(tmp_path, max_bytes=64 * 1024**2, segment_bytes=16 * 1024**2)
    spool.append(frame)
    dlq = tail(settings.kafka_readings_dlq_topic)

    hasty = sink_with(settings, spool, bridge_publish_timeout_s=0.001, bridge_publish_min_bytes_per_s=1e15)
    assert hasty.drain(max_frames=1) == 0  # a near-zero fixed deadline cannot cover 3 MiB with acks=all
    assert spool.bytes > 0  # the frame stays for the next drain
    hasty.close(timeout_s=0)

    sized = sink_with(settings, spool, bridge_publish_timeout_s=0.001, bridge_publish_min_bytes_per_s=256 * 1024)
    assert sized.drain(max_frames=1) == FRAME_RECORDS  # 3 MiB at 256 KiB/s: 12 s allowed
    assert sized.drain(max_frames=1) == 0 and spool.bytes == 0  # nothing left: the segment is gone
    sized.close(timeout_s=settings.kafka_timeout_s)
    # All of them (the hasty attempt may have added copies: at-least-once, deduplicated downstream).
    wait_until(lambda: len({r.value for r in dlq.matching(lambda r: r.key == run.encode())}) == FRAME_RECORDS,
               what="every record of the frame in Kafka")
