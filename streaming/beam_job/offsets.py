"""The job's place in Kafka: which offset ranges to run next, and committing them once QuestDB has them.

The driver's consumer is in group `beam_consumer_group` (cooperative rebalancing, manual
commits) but never fetches: its partitions stay paused, and a bounded Beam run reads each
planned range itself. Offsets are committed only after the run that wrote them succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from sems.settings import Settings
from sems.stores import kafka
from streaming.beam.kafka_io import OffsetRange

log = logging.getLogger(__name__)
GROUP_POLL_MS = 100


def fair_shares(backlogs: list[int], budget: int) -> list[int]:
    """How many records to take from each partition: `budget` split evenly, what a short partition
    leaves going to the others (water-filling), each at least 1.

    Splitting it evenly over all assigned partitions wasted it: readings are keyed by facility, so
    with 5 facilities on 12 partitions a run read at most 5/12 of its cap (measured: runs of 416
    records per partition while 30 M readings drained after an outage).
    """
    shares = [0] * len(backlogs)
    left, open_ = budget, sorted(range(len(backlogs)), key=lambda i: backlogs[i])
    while open_:
        even = max(1, left // len(open_))
        i = open_.pop(0)
        shares[i] = min(backlogs[i], even)
        left = max(0, left - shares[i])
    return shares


ALIGN_PRECISION_MS = 10
ALIGN_FURTHEST_MS = 7 * 24 * 3600 * 1000  # Kafka's retention: nothing older to find


class RecordsBefore:
    """How many records of each partition's backlog Kafka stamped before a time (one ListOffsets request)."""

    def __init__(self, consumer: Any, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> None:
        self.consumer, self.starts, self.ends = consumer, starts, ends

    def __call__(self, t_ms: int) -> dict[TopicPartition, int]:
        found = self.consumer.offsets_for_times(dict.fromkeys(self.starts, t_ms))
        # None: no record at or after t_ms, so the whole backlog is before it.
        return {tp: max(0, min(self.ends[tp], found[tp].offset if found.get(tp) else self.ends[tp]) - start)
                for tp, start in self.starts.items()}


def time_aligned_shares(
    records_before: Callable[[int], dict[TopicPartition, int]], budget: int, now_ms: int | None = None
) -> dict[TopicPartition, int] | None:
    """Each partition's records up to one common time T, the latest T whose records fit `budget`; None if none do.

    Readings are keyed by facility, so partitions are facilities' streams: equal record counts
    (`fair_shares`) ended one facility's part of a run up to 12 s of event time after another's
    (a facility's records hold more or fewer readings), and the next run then wrote that far back
    into rows QuestDB already had: an out-of-order merge that rewrote them. Cut at one time, the
    runs follow each other in event time. T is found by doubling back from now, then bisecting.
    """
    hi = now_ms if now_ms is not None else int(time.time() * 1000)
    if 0 < sum((counts := records_before(hi)).values()) <= budget:  # what is stamped later (a skewed clock) waits
        return counts
    step = 1000
    lo = hi - step
    while sum((counts := records_before(lo)).values()) > budget:
        hi, step = lo, step * 2
        if step > ALIGN_FURTHEST_MS:
            return None
        lo = hi - step
    while hi - lo > ALIGN_PRECISION_MS:
        mid = (lo + hi) // 2
        mid_counts = records_before(mid)
        if sum(mid_counts.values()) <= budget:
            lo, counts = mid, mid_counts
        else:
            hi = mid
    return counts if sum(counts.values()) > 0 else None


class ConsumerOffsets:
    """Plans offset ranges of the assigned partitions from the committed positions; commits them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = kafka.consumer(settings, settings.beam_consumer_group, settings.kafka_readings_topic)
        # Topic metadata before the first join: joining without it gets an empty assignment, and kafka-python
        # only notices the partitions at the next metadata refresh (metadata_max_age_ms, 5 minutes).
        self.consumer.partitions_for_topic(settings.kafka_readings_topic)
        self.next: dict[TopicPartition, int] = {}
        self.lag = 0

    def keep_alive(self) -> set[TopicPartition]:
        """Serve the group protocol (joins, rebalances) without fetching; returns the assignment."""
        self.consumer.poll(timeout_ms=GROUP_POLL_MS)
        assigned = set(self.consumer.assignment())
        self.consumer.pause(*assigned)
        for tp in set(self.next) - assigned:
            del self.next[tp]  # revoked: its new owner continues from the committed offset
        return assigned

    def plan(self, max_records: int) -> list[OffsetRange]:
        """The next ranges to run (at most `max_records` offsets in all); [] when there is nothing new."""
        assigned = self.keep_alive()
        if not assigned:
            return []
        ends = self.consumer.end_offsets(list(assigned))
        for tp in assigned - set(self.next):
            committed = self.consumer.committed(tp)
            self.next[tp] = committed if committed is not None else self.consumer.beginning_offsets([tp])[tp]
        backlog = {tp: ends[tp] - self.next[tp] for tp in sorted(assigned) if ends[tp] > self.next[tp]}
        self.lag = sum(backlog.values())
        if self.lag <= max_records:
            shares = list(backlog.values())
        else:
            aligned = time_aligned_shares(
                RecordsBefore(self.consumer, {tp: self.next[tp] for tp in backlog}, ends), max_records)
            shares = [aligned[tp] for tp in backlog] if aligned else fair_shares(list(backlog.values()), max_records)
        return [
            OffsetRange(tp.topic, tp.partition, self.next[tp], self.next[tp] + share)
            for tp, share in zip(backlog, shares, strict=True)
            if share > 0
        ]

    def commit(self, ranges: list[OffsetRange]) -> bool:
        """Commit the ends of `ranges`; False if a rebalance took a partition (its new owner replays, harmlessly)."""
        offsets = {TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.end, "", -1) for r in ranges}
        try:
            self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("offset commit failed; the ranges will be replayed", extra={"fields": {"error": repr(exc)}})
            self.next.clear()
            return False
        for tp, done in offsets.items():
            self.next[tp] = done.offset
        self.lag = max(0, self.lag - sum(r.size for r in ranges))
        return True

    def close(self) -> None:
        self.consumer.close(autocommit=False)
