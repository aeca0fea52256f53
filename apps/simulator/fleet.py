"""The simulated fleet on the wire: one MQTT connection per facility (its device user), one reading per meter per round.

The fleet publishes from the `FacilityModel`s it is given; the simulator process hands the
same objects to the SOAP BMSs, so a BMS command changes the next round's readings.
`simulator_batch_readings` = 1 sends each reading on its meter's topic; more sends gateway
batches of up to that many readings on the facility's batch topic. The knobs of
`impairments.py` (duplicates, held-back readings, malformed messages, clock skew) act here.

Each facility connects as its own device user, so Mosquitto's ACLs apply exactly as to a
real gateway. Readings are published with QoS 1; paho keeps them (bounded) while the
broker is away and sends them on reconnect, as a real meter's buffer would. A reading
counts as published when the broker acknowledged it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client import Counter, Gauge

from apps.simulator.facility_model import FacilityModel
from apps.simulator.impairments import Impairments
from apps.simulator.meters import MeterRegister
from sems.mqtt import batches_topic, device_client, readings_topic
from sems.settings import Settings

PUBLISHED = Counter("sems_simulator_readings_published_total", "Readings the broker acknowledged", ["facility_id"])
PUBLISH_ERRORS = Counter(
    "sems_simulator_publish_errors_total", "Readings refused by the client queue or the broker", ["facility_id"]
)
CONNECTED = Gauge("sems_simulator_connected", "1 while the facility's MQTT connection is up", ["facility_id"])
ROUNDS = Counter("sems_simulator_rounds_total", "Publishing rounds (one reading per meter each)")
IMPAIRED = Counter("sems_simulator_impairments_total", "Readings or messages impaired on purpose (knobs)", ["kind"])

# Readings a facility buffers while the broker is away: a day of the demo fleet, then new ones are refused.
MAX_BUFFERED = 10_000

log = logging.getLogger(__name__)


@dataclass
class FacilityDevice:
    """One facility in the field: its load model, its meters' registers and its MQTT connection."""

    model: FacilityModel
    client: mqtt.Client
    registers: dict[str, MeterRegister] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    unacknowledged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (due epoch ms, reading) held back

    def track(self, change: int) -> None:
        with self.lock:
            self.unacknowledged += change

    @property
    def facility_id(self) -> str:
        return self.model.facility.facility_id


class Fleet:
    """Every simulated facility; `publish_round` sends one reading per meter."""

    def __init__(self, settings: Settings, models: list[FacilityModel], client_prefix: str = "sems-sim") -> None:
        self.settings = settings
        self.impairments = Impairments.from_settings(settings)
        self.tally: Tally[str] = Tally()  # what was sent, by kind: readings, messages, duplicate, late, malformed, ...
        self.devices = [self._device(m, client_prefix) for m in models]

    def _device(self, model: FacilityModel, client_prefix: str) -> FacilityDevice:
        facility = model.facility
        client = device_client(self.settings, facility.facility_id, client_id=f"{client_prefix}-{facility.facility_id}")
        client.max_queued_messages_set(MAX_BUFFERED)
        device = FacilityDevice(model, client, {m: MeterRegister.fresh(m) for m in facility.meter_ids})
        client.on_connect = lambda _c, _u, _f, reason, _p: self._on_connect(device, reason)
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self._on_disconnect(device, reason)
        client.on_publish = lambda _c, _u, _mid, reason, _p: self._on_publish(device, reason)
        return device

    def connect(self) -> None:
        """Start every connection in the background; paho reconnects on its own after a broker restart."""
        for device in self.devices:
            device.client.connect_async(self.settings.host, self.settings.mqtt_port, keepalive=30)
            device.client.loop_start()

    def close(self, timeout_s: float) -> None:
        """Send what is held back, give queued readings up to `timeout_s` to be acknowledged, then disconnect."""
        self.flush_held()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(d.unacknowledged > 0 for d in self.devices):
            time.sleep(0.05)
        for device in self.devices:
            device.client.disconnect()
            device.client.loop_stop()

    def connected(self) -> list[str]:
        return [d.facility_id for d in self.devices if d.connected.is_set()]

    def publish_round(self, at: datetime | None = None) -> int:
        """One reading per meter, timestamped `at` (now), plus held readings now due; returns messages handed over."""
        at = at or datetime.now(UTC)
        ts_ms = int(at.timestamp() * 1000)
        handed = 0
        for device in self.devices:
            due = [self._reading(device, meter, register, at, ts_ms) for meter, register in device.registers.items()]
            ready = [r for reading in due for r in self._impair(device, reading, ts_ms)]
            # Held readings go out after this round's, so they arrive behind newer readings of their meter.
            ready += [r for due_ms, r in device.held if due_ms <= ts_ms]
            device.held = [(due_ms, r) for due_ms, r in device.held if due_ms > ts_ms]
            handed += self._send(device, ready)
        ROUNDS.inc()
        return handed

    def flush_held(self) -> int:
        """Send every held-back reading now (at shutdown, or in tests)."""
        handed = 0
        for device in self.devices:
            handed += self._send(device, [r for _, r in device.held])
            device.held = []
        return handed

    def _reading(self, device: FacilityDevice, meter_id: str, register: MeterRegister, at: datetime,
                 ts_ms: int) -> dict[str, Any]:
        payload = register.read(ts_ms, device.model.meter_kw(meter_id, at))
        skew = self.impairments.skew_ms(meter_id)
        return {"meter_id": meter_id, **payload, "ts": payload["ts"] + skew}

    def _impair(self, device: FacilityDevice, reading: dict[str, Any], ts_ms: int) -> list[dict[str, Any]]:
        """The reading's copies to send now ([] when held back for a later round)."""
        copies = self.impairments.copies()
        delay_s = self.impairments.delay_s()
        self._count("readings", copies)
        if copies > 1:
            self._count("duplicate")
        if delay_s:
            self._count("late" if delay_s > self.settings.simulator_interval_s else "out_of_order")
            device.held += [(ts_ms + round(delay_s * 1000), reading)] * copies
            return []
        return [reading] * copies

    def _send(self, device: FacilityDevice, readings: list[dict[str, Any]]) -> int:
        """Readings as MQTT messages: one per reading, or gateway batches of `simulator_batch_readings`."""
        size = self.settings.simulator_batch_readings
        if size == 1:
            messages = [(readings_topic(self.settings, device.facility_id, r["meter_id"]),
                         {k: v for k, v in r.items() if k != "meter_id"}) for r in readings]
        else:
            topic = batches_topic(self.settings, device.facility_id)
            messages = [(topic, {"readings": readings[i:i + size]}) for i in range(0, len(readings), size)]
        handed = 0
        for topic, body in messages:
            handed += self._publish(device, topic, json.dumps(body).encode())
            broken = self.impairments.malformed(int(time.time() * 1000))
            if broken is not None:
                self._count("malformed")
                handed += self._publish(device, topic, broken)
        self._count("messages", len(messages))
        return handed

    def _count(self, kind: str, n: int = 1) -> None:
        self.tally[kind] += n
        if kind not in ("readings", "messages"):
            IMPAIRED.labels(kind).inc(n)

    def _publish(self, device: FacilityDevice, topic: str, payload: bytes) -> int:
        info = device.client.publish(topic, payload, qos=1)
        # NO_CONN is fine for QoS 1: paho keeps the message and sends it after reconnecting.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            PUBLISH_ERRORS.labels(device.facility_id).inc()
            log.warning("reading refused by the client", extra={"fields": {"topic": topic, "rc": str(info.rc)}})
            return 0
        device.track(+1)
        return 1

    def _on_connect(self, device: FacilityDevice, reason: Any) -> None:
        if reason.is_failure:
            log.error("broker refused %s: %s", device.facility_id, reason)
            return
        device.connected.set()
        CONNECTED.labels(device.facility_id).set(1)
        log.info("connected as %s", device.facility_id)

    def _on_disconnect(self, device: FacilityDevice, reason: Any) -> None:
        device.connected.clear()
        CONNECTED.labels(device.facility_id).set(0)
        log.warning("disconnected %s: %s", device.facility_id, reason)

    def _on_publish(self, device: FacilityDevice, reason: Any) -> None:
        device.track(-1)
        if reason.is_failure:
            PUBLISH_ERRORS.labels(device.facility_id).inc()
            log.warning("broker refused a reading of %s: %s", device.facility_id, reason)
        else:
            PUBLISHED.labels(device.facility_id).inc()
