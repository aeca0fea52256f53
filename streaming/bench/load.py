"""The offered load: one MQTT device client per facility publishing numbered readings as fast as QoS 1 allows.

`single` sends one message per reading; `gateway` one batch per facility and round with a reading
of every meter. Meter ids carry the run tag, so the run's readings are found and reconciled
in QuestDB by (meter_id, seq); only readings the broker acknowledged count as offered.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import msgspec
import paho.mqtt.client as mqtt

from sems.mqtt import device_client
from sems.settings import Settings

INFLIGHT = 1000


@dataclass
class Load:
    settings: Settings
    facilities: list[str]
    meters: int
    mode: str
    tag: str
    rate: float = 0.0  # offered readings/s over all facilities; 0: as fast as the broker acknowledges
    acked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_ts: dict[str, int] = field(default_factory=dict)

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
        client = device_client(self.settings, facility_id, client_id=f"bench-{self.tag}-{facility_id}")
        client.max_inflight_messages_set(INFLIGHT)
        weights: dict[int, int] = {}
        client.on_publish = lambda _c, _u, mid, _r, _p: self._acked(weights.pop(mid, 0))
        client.connect(self.settings.host, self.settings.mqtt_port, keepalive=60)
        client.loop_start()
        meters, seq = self.meter_ids(facility_id), 0
        round_s = self.meters * len(self.facilities) / self.rate if self.rate else 0.0
        next_round = time.monotonic()
        while time.monotonic() < until:
            seq += 1
            if round_s:  # pace on a fixed schedule, so a slow round does not lower the offered rate
                next_round += round_s
                time.sleep(max(0.0, next_round - time.monotonic()))
            for topic, payload, weight in self._messages(facility_id, meters, seq):
                info = client.publish(topic, payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:  # client queue full: not offered, back off a little
                    time.sleep(0.005)
                    continue
                weights[info.mid] = weight
        deadline = time.monotonic() + 60
        while weights and time.monotonic() < deadline:  # acks of the other in-flight messages
            time.sleep(0.05)
        client.disconnect()
        client.loop_stop()

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

    def _acked(self, weight: int) -> None:
        with self._lock:
            self.acked += weight
