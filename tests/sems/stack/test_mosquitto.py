"""The stack's Mosquitto: no anonymous access, devices confined to their own topics, QoS 1 survives a restart."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sems import mqtt as sems_mqtt
from sems.settings import Settings
from sems.stack import controller
from sems.stack.mosquitto import SERVICE
from tests.support import wait_until


class Session:
    """A connected client that records what it receives and the broker's answer to each publish."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.received: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: self.connected.set() if not rc.is_failure else None
        client.on_message = lambda c, u, msg: self.received.append((msg.topic, bytes(msg.payload)))
        client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc)
        client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=5)
        wait_until(lambda: info.mid in self.pubacks, timeout_s=5, what=f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def payloads(self) -> set[bytes]:
        return {payload for _, payload in self.received}


@contextmanager
def session(settings: Settings, client: mqtt.Client, **connect: object) -> Iterator[Session]:
    s = Session(client)
    client.connect(settings.host, settings.mqtt_port, keepalive=10, **connect)  # type: ignore[arg-type]
    client.loop_start()
    try:
        assert s.connected.wait(5), "broker did not accept the connection"
        yield s
    finally:
        client.disconnect()
        client.loop_stop()


def _id(kind: str) -> str:
    return f"test-{kind}-{uuid.uuid4().hex[:8]}"


def test_healthy_with_bridge_credentials(settings: Settings) -> None:
    assert SERVICE.healthy(settings)


def test_anonymous_and_wrong_passwords_are_refused(settings: Settings) -> None:
    anonymous = sems_mqtt.connack(sems_mqtt.mqtt_client(settings, _id("anon"), None, None), settings, 5)
    wrong = sems_mqtt.connack(sems_mqtt.mqtt_client(settings, _id("wrong"), "fac-001", "guess"), settings, 5)
    stranger = sems_mqtt.connack(
        sems_mqtt.mqtt_client(settings, _id("stranger"), "fac-999", settings.mqtt_device_password.get_secret_value()),
        settings, 5,
    )
    for refused in (anonymous, wrong, stranger):
        assert refused is not None and refused.is_failure
    assert sems_mqtt.can_connect(settings, "fac-001", settings.mqtt_device_password.get_secret_value())


def test_bridge_receives_what_devices_publish(settings: Settings) -> None:
    single, batch = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    with session(settings, sems_mqtt.bridge_client(settings, _id("bridge"))) as bridge:
        bridge.subscribe(f"{settings.mqtt_topic_prefix}/#")
        with session(settings, sems_mqtt.device_client(settings, "fac-001", _id("device"))) as device:
            assert not device.publish(sems_mqtt.readings_topic(settings, "fac-001", "fac-001-m01"), single).is_failure
            assert not device.publish(sems_mqtt.batches_topic(settings, "fac-001"), batch).is_failure
        wait_until(lambda: {single, batch} <= bridge.payloads(), timeout_s=10, what="both messages at the bridge")


def test_device_may_not_publish_for_another_facility(settings: Settings) -> None:
    forged, sentinel = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    with session(settings, sems_mqtt.bridge_client(settings, _id("bridge"))) as bridge:
        bridge.subscribe(f"{settings.mqtt_topic_prefix}/#")
        with session(settings, sems_mqtt.device_client(settings, "fac-001", _id("device"))) as device:
            for topic in (
                sems_mqtt.readings_topic(settings, "fac-002", "fac-002-m01"),
                sems_mqtt.batches_topic(settings, "fac-002"),
                f"{settings.mqtt_topic_prefix}/commands/fac-001",
            ):
                assert device.publish(topic, forged).is_failure, f"broker accepted {topic} from fac-001"
            device.publish(sems_mqtt.readings_topic(settings, "fac-001", "fac-001-m01"), sentinel)
        # Messages from one publisher arrive in order: once the sentinel is in, a forged one would be too.
        wait_until(lambda: sentinel in bridge.payloads(), timeout_s=10, what="the sentinel at the bridge")
        assert forged not in bridge.payloads()


def test_device_cannot_read_other_facilities(settings: Settings) -> None:
    secret, sentinel = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    with (
        session(settings, sems_mqtt.bridge_client(settings, _id("bridge"))) as bridge,
        session(settings, sems_mqtt.device_client(settings, "fac-001", _id("snoop"))) as snoop,
    ):
        bridge.subscribe(f"{settings.mqtt_topic_prefix}/#")
        snoop.subscribe(f"{settings.mqtt_topic_prefix}/#")
        with session(settings, sems_mqtt.device_client(settings, "fac-002", _id("device"))) as device:
            device.publish(sems_mqtt.readings_topic(settings, "fac-002", "fac-002-m01"), secret)
            device.publish(sems_mqtt.readings_topic(settings, "fac-002", "fac-002-m01"), sentinel)
        wait_until(lambda: sentinel in bridge.payloads(), timeout_s=10, what="the sentinel at the bridge")
        assert snoop.received == []


def test_queued_qos1_messages_survive_a_broker_restart(settings: Settings) -> None:
    client_id, payload = _id("durable"), uuid.uuid4().hex.encode()
    durable = {"clean_start": False, "properties": _session_expiry(300)}
    with session(settings, sems_mqtt.bridge_client(settings, client_id), **durable) as bridge:
        bridge.subscribe(f"{settings.mqtt_topic_prefix}/readings/fac-003/#")
    with session(settings, sems_mqtt.device_client(settings, "fac-003", _id("device"))) as device:
        assert not device.publish(sems_mqtt.readings_topic(settings, "fac-003", "fac-003-m01"), payload).is_failure

    controller.down(settings, ["mosquitto"], report=lambda _: None)
    controller.up(settings, ["mosquitto"], report=lambda _: None)

    # Resume the session; expiry 0 lets the broker forget it once this test disconnects.
    resume = {"clean_start": False, "properties": _session_expiry(0)}
    with session(settings, sems_mqtt.bridge_client(settings, client_id), **resume) as bridge:
        wait_until(lambda: payload in bridge.payloads(), timeout_s=10, what="the queued message after the restart")


def _session_expiry(seconds: int) -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = seconds
    return properties
