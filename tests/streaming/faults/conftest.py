"""Fault-test tools: a device that keeps publishing numbered readings, and exact reconciliation in QuestDB.

Each test gets its own meter ids, so `(meter_id, seq)` identifies every reading it published;
`Reconcile` compares what the broker acknowledged with what QuestDB holds: none lost, none doubled.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from sems.facilities import demo_fleet
from sems.mqtt import device_client
from sems.settings import Settings
from sems.stack import controller
from sems.stores import questdb
from tests.support import wait_until

METERS = 3


@dataclass
class Device:
    """Publishes one reading per meter per tick (QoS 1); remembers the (meter, seq) the broker acknowledged."""

    settings: Settings
    facility_id: str
    meters: list[str]
    acknowledged: set[tuple[str, int]] = field(default_factory=set)
    _seq: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def publish_round(self, client: object) -> None:
        self._seq += 1
        for meter_id in self.meters:
            payload = json.dumps({"ts": int(time.time() * 1000), "kw": 10.0 + self._seq % 7, "seq": self._seq})
            topic = f"{self.settings.mqtt_topic_prefix}/readings/{self.facility_id}/{meter_id}"
            info = client.publish(topic, payload.encode(), qos=1)  # type: ignore[attr-defined]
            try:
                info.wait_for_publish(timeout=self.settings.mqtt_timeout_s)
            except (RuntimeError, ValueError):
                continue  # not connected: the reading was never accepted, so it is not expected either
            if info.is_published():
                self.acknowledged.add((meter_id, self._seq))

    def start(self, interval_s: float = 0.05) -> None:
        """Publish in the background every `interval_s` until `stop`."""
        client = device_client(self.settings, self.facility_id, client_id=f"fault-{uuid.uuid4().hex[:8]}")
        client.connect(self.settings.host, self.settings.mqtt_port, keepalive=30)
        client.loop_start()

        def run() -> None:
            while not self._stop.wait(interval_s):
                self.publish_round(client)
            client.disconnect()
            client.loop_stop()

        self._stop.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def stored(self) -> dict[tuple[str, int], int]:
        """Rows in QuestDB `readings` per (meter_id, seq) of this device's meters."""
        names = ", ".join(f"'{m}'" for m in self.meters)
        rows = questdb.query(
            self.settings,
            f"SELECT meter_id, seq, count() n FROM readings WHERE facility_id = '{self.facility_id}' "
            f"AND meter_id IN ({names})",
        )
        return {(r["meter_id"], int(r["seq"])): int(r["n"]) for r in rows}

    def assert_exactly_once(self, timeout_s: float = 120) -> None:
        assert len(self.acknowledged) > 0, "the device published nothing"
        wait_until(lambda: set(self.stored()) >= self.acknowledged, timeout_s=timeout_s,
                   what=f"all {len(self.acknowledged)} acknowledged readings in QuestDB")
        stored = self.stored()
        assert {key: n for key, n in stored.items() if n != 1} == {}, "duplicated readings"
        assert set(stored) == self.acknowledged, "QuestDB holds readings the broker never acknowledged"


@pytest.fixture
def device(settings: Settings) -> Iterator[Device]:
    facility_id = demo_fleet(settings.simulator_facilities, settings.simulator_meters)[1].facility_id
    tag = uuid.uuid4().hex[:8]
    device = Device(settings, facility_id, [f"{facility_id}-fault-{tag}-{i}" for i in range(METERS)])
    yield device
    device.stop()


def metric(settings: Settings, port: int, name: str) -> float:
    """The sum of a Prometheus metric's samples named exactly `name` (any labels) at host:port/metrics."""
    text = httpx.get(f"http://{settings.host}:{port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def restore_stack(settings: Settings) -> Iterator[None]:
    """Whatever a fault test did, the streaming services are up and healthy after it."""
    yield
    controller.up(settings, ["mosquitto", "kafka", "questdb", "beam-job", "bridge"], report=lambda _: None)
