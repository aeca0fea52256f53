"""The bench's lean MQTT publisher: paho decodes its packets, it reads every PUBACK form, the broker takes it."""

from __future__ import annotations

import json
import struct
import time
import uuid

import pytest
from paho.mqtt import _packet as paho_packet
from paho.mqtt.enums import MQTTProtocolVersion

from sems.settings import Settings
from streaming.bench.publisher import MQTTRefused, Publisher, encode_publish, varint


def name(topic: str) -> bytes:
    return struct.pack("!H", len(topic.encode())) + topic.encode()


@pytest.mark.parametrize("size", [0, 10, 200, 20_000, 3_000_000])
def test_paho_decodes_the_publish_packets(size: int) -> None:
    payload = b"x" * size
    packet = encode_publish(name("sems/v1/readings/f/m"), 4242, payload)
    assert packet[0] == 0x32
    remaining = 1
    while packet[remaining] & 0x80:
        remaining += 1
    decoded = paho_packet.decode_publish(packet[0], packet[remaining + 1:], MQTTProtocolVersion.MQTTv5)
    assert (decoded.topic, decoded.mid, decoded.qos, decoded.payload) == (b"sems/v1/readings/f/m", 4242, 1, payload)
    assert decoded.properties is not None and decoded.properties.isEmpty()
    assert varint(len(packet) - remaining - 1) == packet[1:remaining + 1]


def test_pubacks_count_by_reason_code_even_when_split_across_reads() -> None:
    publisher = Publisher.__new__(Publisher)  # no connection: feed it bytes
    publisher.inflight, publisher.acked, publisher.refused, publisher._unread = {1: 1, 2: 20, 3: 5, 4: 7}, 0, 0, b""
    stream = (bytes([0x40, 2, 0, 1])  # success, short form
              + bytes([0x40, 3, 0, 2, 0x10])  # "no matching subscribers": still accepted
              + bytes([0x40, 4, 0, 3, 0x97, 0])  # quota exceeded: refused
              + bytes([0x40, 2, 0, 4]))
    for cut in (1, 5, 9, 14):
        publisher._take(publisher._unread + stream[:cut])
        stream = stream[cut:]
    publisher._take(publisher._unread + stream)
    assert (publisher.acked, publisher.refused, publisher.inflight, publisher._unread) == (28, 5, {}, b"")


def test_the_broker_acknowledges_a_pipelined_window(settings: Settings, facility_id: str) -> None:
    password = settings.mqtt_device_password.get_secret_value()
    publisher = Publisher(settings.host, settings.mqtt_port, f"test-pub-{uuid.uuid4().hex[:8]}", facility_id,
                          password, window=50, timeout_s=settings.mqtt_timeout_s)
    try:
        assert 0 < publisher.window <= 50
        topic = f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{facility_id}-pub-{uuid.uuid4().hex[:6]}"
        sent = 0
        deadline = time.monotonic() + 10
        while sent < 200 and time.monotonic() < deadline:
            room = min(publisher.room(), 200 - sent)
            body = json.dumps({"ts": int(time.time() * 1000), "kw": 1.0}).encode()
            publisher.publish([(topic, body, 1)] * room)
            sent += room
            publisher.read_acks(0.1)
        while publisher.inflight and time.monotonic() < deadline:
            publisher.read_acks(0.1)
        assert (sent, publisher.acked, publisher.refused) == (200, 200, 0)
    finally:
        publisher.close()


def test_wrong_credentials_are_refused(settings: Settings, facility_id: str) -> None:
    with pytest.raises(MQTTRefused):
        Publisher(settings.host, settings.mqtt_port, f"test-pub-{uuid.uuid4().hex[:8]}", facility_id, "wrong",
                  window=10, timeout_s=settings.mqtt_timeout_s)
