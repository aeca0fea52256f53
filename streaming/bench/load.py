"""The offered load: one MQTT device connection per facility publishing numbered readings as fast as QoS 1 allows.

`single` sends one message per reading; `gateway` one batch per facility and round with a reading
of every meter. Meter ids carry the run tag, so the run's readings are found and reconciled
in QuestDB by (meter_id, seq); only readings the broker acknowledged count as offered. The
connections are the bench's own lean publisher (`publisher.py`), not paho: with paho the
generator, not the system under test, capped single mode near 5,000 messages/s.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import msgspec

from sems.mqtt import device_credentials
from sems.settings import Settings
from streaming.bench.publisher import Publisher

log = logging.getLogger(__name__)

INFLIGHT = 1000  # unacknowledged messages per connection (the broker's Receive Maximum caps it too)


@dataclass
class Load:
    settings: Settings
    facilities: list[str]
    meters: int
    mode: str
    tag: str
    rate: float = 0.0  # offered readings/s over all facilities; 0: as fast as the broker acknowledges
    acked: int = 0
    in_doubt: int = 0  # readings sent but never acknowledged (their connection failed): may or may not have landed
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_ts: dict[str, int] = field(default_factory=dict)

    @property
    def acked_messages(self) -> int:
        """MQTT messages the broker acknowledged (a gateway message carries a reading of every meter)."""
        return self.acked // self.meters if self.mode == "gateway" else self.acked

    def meter_ids(self, facility_id: str) -> list[str]:
        return [f"{facility_id}-b{self.tag}-{i:04d}" for i in range(self.meters)]

    def run(self, duration_s: float) -> float:
        """Publish for `duration_s` from one thread per facility; returns the seconds it took to get all acks."""
        started = time.monotonic()
        threads = [threading.Thread(target=self._facility, args=(f, started + duration_s)) for f in self.facilities]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def _facility(self, facility_id: str, until: float) -> None:
        publisher = Publisher(
            self.settings.host, self.settings.mqtt_port, f"bench-{self.tag}-{facility_id}",
            *device_credentials(self.settings, facility_id),
            window=INFLIGHT, timeout_s=self.settings.mqtt_timeout_s,
        )
        try:
            self._publish_until(publisher, facility_id, until)
            deadline = time.monotonic() + 60
            while publisher.inflight and time.monotonic() < deadline:  # acks of the messages still in flight
                publisher.read_acks(0.05)
        except OSError:
            log.exception("bench publisher of %s lost its connection; its unacknowledged readings are not offered",
                          facility_id)
        finally:
            publisher.close()
            self._acked(publisher.acked, sum(publisher.inflight.values()))

    def _publish_until(self, publisher: Publisher, facility_id: str, until: float) -> None:
        """Rounds of readings (one per meter), each sent as soon as the window has room (and, with a rate, due)."""
        meters, seq = self.meter_ids(facility_id), 0
        outgoing: list[tuple[str, bytes, int]] = []
        round_s = self.meters * len(self.facilities) / self.rate if self.rate else 0.0
        next_round = time.monotonic()
        while (now := time.monotonic()) < until:
            if not outgoing:
                if now < next_round:  # pace on a fixed schedule, so a slow round does not lower the offered rate
                    publisher.read_acks(min(next_round - now, 0.05))
                    continue
                seq, next_round = seq + 1, next_round + round_s
                outgoing = self._messages(facility_id, meters, seq)
            room = publisher.room()
            if room <= 0:
                publisher.read_acks(0.05)  # window full: wait for the broker
                continue
            publisher.publish(outgoing[:room])
            outgoing = outgoing[room:]
            publisher.read_acks(0)

    def _messages(self, facility_id: str, meters: list[str], seq: int) -> list[tuple[str, bytes, int]]:
        # One ts per round, strictly increasing: two rounds in one millisecond would be the same reading
        # to QuestDB (identity ts, facility, meter) and the second would replace the first.
        ts = self._next_ts(facility_id)
        prefix = self.settings.mqtt_topic_prefix
        if self.mode == "gateway":
            batch = [{"meter_id": m, "ts": ts, "kw": 10.0 + seq % 5, "seq": seq} for m in meters]
            return [(f"{prefix}/batches/{facility_id}", msgspec.json.encode({"readings": batch}), len(meters))]
        body = msgspec.json.encode({"ts": ts, "kw": 10.0 + seq % 5, "seq": seq})
        return [(f"{prefix}/readings/{facility_id}/{m}", body, 1) for m in meters]

    def _next_ts(self, facility_id: str) -> int:
        with self._lock:
            ts = max(int(time.time() * 1000), self._last_ts.get(facility_id, 0) + 1)
            self._last_ts[facility_id] = ts
            return ts

    def _acked(self, weight: int, in_doubt: int) -> None:
        with self._lock:
            self.acked += weight
            self.in_doubt += in_doubt
