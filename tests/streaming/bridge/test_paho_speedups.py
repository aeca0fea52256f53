"""The paho Properties speed-up changes nothing observable: same packed bytes, same unpacked values, same errors."""

from __future__ import annotations

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties

from streaming.bridge import paho_speedups


def original(packet_type: int) -> Properties:
    props = Properties.__new__(Properties)
    paho_speedups.ORIGINAL_INIT(props, packet_type)
    return props


def filled(props: Properties) -> Properties:
    props.UserProperty = ("trace_id", "abc-123")
    props.UserProperty = ("source", "gateway")
    props.MessageExpiryInterval = 60
    props.ContentType = "application/json"
    return props


def test_patched_properties_pack_and_unpack_like_pahos_own() -> None:
    paho_speedups.apply()
    paho_speedups.apply()  # idempotent
    patched, reference = filled(Properties(PacketTypes.PUBLISH)), filled(original(PacketTypes.PUBLISH))
    packed = patched.pack()
    assert packed == reference.pack()

    decoded = Properties(PacketTypes.PUBLISH)
    decoded.UserProperty = ("stale", "value")  # unpack clears what was set before
    decoded.unpack(packed[:])
    assert decoded.UserProperty == [("trace_id", "abc-123"), ("source", "gateway")]
    assert (decoded.MessageExpiryInterval, decoded.ContentType) == (60, "application/json")
    assert decoded.json() == reference.json()

    decoded.clear()
    assert decoded.isEmpty() and decoded.pack() == original(PacketTypes.PUBLISH).pack()


def test_patched_properties_still_refuse_what_paho_refuses() -> None:
    paho_speedups.apply()
    connect = Properties(PacketTypes.CONNECT)
    with pytest.raises(MQTTException):
        connect.TopicAlias = 5  # a PUBLISH property
    with pytest.raises(MQTTException):
        Properties(PacketTypes.PUBLISH).NotAProperty = 1
    connect.ReceiveMaximum = 1000
    assert connect.ReceiveMaximum == 1000 and Properties(PacketTypes.CONNECT).isEmpty()
