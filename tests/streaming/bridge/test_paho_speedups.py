"""The paho speed-ups change nothing observable: same properties, same messages delivered, same PUBACK bytes."""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet as paho_packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
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


def publish_packet(mid: int, topic: str, payload: bytes, trace_id: str | None = None, header: int = 0x32) -> bytes:
    """An MQTT 5 PUBLISH as a broker sends it (QoS 1 unless `header` says otherwise; QoS 0 has no packet id)."""
    props = Properties(PacketTypes.PUBLISH)
    if trace_id:
        props.UserProperty = ("trace_id", trace_id)
    name = topic.encode()
    packet_id = struct.pack("!H", mid) if header & 0x06 else b""
    body = struct.pack("!H", len(name)) + name + packet_id + props.pack() + payload
    length, size = bytearray(), len(body)
    while True:
        size, digit = size // 128, size % 128
        length.append(digit | (0x80 if size else 0))
        if not size:
            break
    return bytes([header]) + bytes(length) + body


class PahosOwn(mqtt.Client):
    """A client with paho's unpatched reads and dispatch."""

    _sock_recv = paho_speedups.ORIGINAL_SOCK_RECV
    loop_read = paho_speedups.ORIGINAL_LOOP_READ
    _handle_on_message = paho_speedups.ORIGINAL_HANDLE_ON_MESSAGE
    _handle_publish = paho_speedups.ORIGINAL_HANDLE_PUBLISH
    _packet_read = paho_speedups.ORIGINAL_PACKET_READ
    _loop = paho_speedups.ORIGINAL_LOOP


Received = tuple[int, str, bytes, int, bool, bool, list[tuple[str, str]]]


def wired(cls: type[mqtt.Client]) -> tuple[mqtt.Client, socket.socket, list[Received]]:
    """A client of `cls` on one end of a socket pair (the broker's end returned), and what it received."""
    client = cls(CallbackAPIVersion.VERSION2, client_id="speedups", protocol=mqtt.MQTTv5)
    client.manual_ack_set(True)
    received: list[Received] = []

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        assert m.info.mid == m.mid and not m.info.is_published() and m.timestamp > 0
        received.append((m.mid, m.topic, bytes(m.payload), m.qos, m.dup, m.retain,
                         getattr(m.properties, "UserProperty", [])))

    client.on_message = on_message
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client._sock = ours  # noqa: SLF001 - as paho's connect leaves it
    return client, broker, received


def read_all(client: mqtt.Client) -> None:
    for _ in range(1000):  # paho's own loop_read takes one packet per call
        client.loop_read()


def delivering(cls: type[mqtt.Client]) -> tuple[mqtt.Client, socket.socket, list[Received]]:
    """`wired`, with QoS 0/1 messages delivered as `Publish`es into the same list as paho's `on_message`."""
    client, broker, received = wired(cls)

    def on_publish(m: paho_speedups.Publish) -> None:
        assert m.timestamp > 0
        received.append((m.mid, m.topic, m.payload, m.qos, m.dup, m.retain,
                         getattr(m.properties, "UserProperty", [])))

    paho_speedups.deliver_publishes(client, on_publish)
    return client, broker, received


STREAM = b"".join(
    publish_packet(mid, f"sems/v1/readings/f-{mid % 3}/m-{mid}", b'{"kw": %d}' % mid * (mid % 40),
                   trace_id=f"t{mid}" if mid % 2 else None, header=(0x32, 0x3B, 0x30)[mid % 3])
    for mid in range(1, 400)
) + bytes([0xD0, 0x00])  # and a PINGRESP


@pytest.mark.parametrize("connect", [wired, delivering], ids=["paho_dispatch", "publishes_delivered"])
def test_buffered_reads_deliver_what_pahos_reads_deliver_in_one_loop_read(connect: Callable[..., Any]) -> None:
    paho_speedups.apply()
    reference, ref_broker, expected = wired(PahosOwn)
    ref_broker.sendall(STREAM)
    read_all(reference)
    client, broker, received = connect(mqtt.Client)
    broker.sendall(STREAM)
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS  # every packet already sent, no second select() needed
    assert received == expected and len(received) == 399


def test_buffered_reads_resume_a_packet_cut_anywhere_and_see_eof() -> None:
    paho_speedups.apply()
    client, broker, received = wired(mqtt.Client)
    packet = publish_packet(9, "sems/v1/readings/f/m", b'{"kw": 1}', trace_id="abc")
    for cut in range(1, len(packet)):
        broker.sendall(packet[:cut])
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
        broker.sendall(packet[cut:])
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert [m[:3] for m in received] == [(9, "sems/v1/readings/f/m", b'{"kw": 1}')] * (len(packet) - 1)
    broker.close()
    assert client.loop_read() == mqtt.MQTT_ERR_CONN_LOST


def test_a_new_socket_starts_with_an_empty_buffer() -> None:
    paho_speedups.apply()
    client, broker, received = wired(mqtt.Client)
    first, second = (publish_packet(mid, "sems/v1/readings/f/m", b"{}") for mid in (1, 2))
    broker.sendall(first + second[:5])  # the connection breaks with half a packet read
    client.loop_read()
    client._sock, new_broker = socket.socketpair()  # noqa: SLF001 - what paho's reconnect does
    client._sock.setblocking(False)  # noqa: SLF001
    client._in_packet = PahosOwn(CallbackAPIVersion.VERSION2)._in_packet  # noqa: SLF001 - reset by reconnect
    new_broker.sendall(second)
    client.loop_read()
    assert [m[0] for m in received] == [1, 2]


def test_send_pubacks_queues_the_bytes_of_one_ack_each() -> None:
    reference = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    mids = [1, 2, 300, 65535]
    for mid in mids:
        reference.ack(mid, 1)
    paho_speedups.send_pubacks(client, mids)
    paho_speedups.send_pubacks(client, [])
    [packet] = client._out_packet  # noqa: SLF001
    assert packet["packet"] == b"".join(p["packet"] for p in reference._out_packet)  # noqa: SLF001
    assert packet["to_process"] == 4 * len(mids)


def test_received_messages_make_their_info_only_when_asked() -> None:
    message = paho_speedups.ReceivedMessage(7, b"sems/v1/x")
    assert isinstance(message, mqtt.MQTTMessage) and message.topic == "sems/v1/x"
    assert message.info is message.info and message.info.mid == 7
    replaced = mqtt.MQTTMessageInfo(8)
    message.info = replaced
    assert message.info is replaced


def decoded(decode: object, header: int, body: bytes) -> tuple[object, ...] | str:
    try:
        p = decode(header, bytearray(body), MQTTProtocolVersion.MQTTv5)  # type: ignore[operator]
    except MalformedPacket:
        return "malformed"
    return (p.dup, p.qos, p.retain, p.topic, p.mid, p.properties.pack(), p.payload, type(p.payload), type(p.topic))


def test_a_paused_client_reads_nothing_until_resumed() -> None:
    paho_speedups.apply()
    client, broker, received = wired(mqtt.Client)
    paused = [True]
    paho_speedups.pause_reading_while(client, lambda: paused[0])
    broker.sendall(publish_packet(1, "sems/v1/readings/f/m", b"{}") + publish_packet(2, "sems/v1/readings/f/m", b"{}"))
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS and received == []
    paused[0] = False
    client.loop_read()
    assert [m[0] for m in received] == [1, 2]


def test_packets_left_in_the_buffer_by_a_pause_are_read_without_new_bytes() -> None:
    paho_speedups.apply()
    client, broker, received = wired(mqtt.Client)
    limit = [1]
    paho_speedups.pause_reading_while(client, lambda: len(received) >= limit[0])
    broker.sendall(b"".join(publish_packet(mid, "sems/v1/readings/f/m", b"{}") for mid in (1, 2, 3)))
    client.loop_read()  # one read takes all three into the buffer; the pause stops it after the first
    assert [m[0] for m in received] == [1]
    limit[0] = 10
    started = time.monotonic()
    client._loop(timeout=5.0)  # noqa: SLF001 - the socket has nothing new: select() alone would wait 5 s
    assert [m[0] for m in received] == [1, 2, 3] and time.monotonic() - started < 1.0


def slim(header: int, body: bytes) -> tuple[object, ...] | str:
    """`decode_publish_slim` in the terms of `decoded` (no properties: paho's empty ones)."""
    try:
        p = paho_speedups.decode_publish_slim(header, body)
    except MalformedPacket:
        return "malformed"
    properties = p.properties.pack() if p.properties is not None else Properties(PacketTypes.PUBLISH).pack()
    return (p.dup, p.qos, p.retain, p._topic, p.mid, properties, p.payload, type(p.payload), type(p._topic))  # noqa: SLF001


def full(header: int, body: bytes) -> tuple[object, ...] | str:
    """`decode_publish` (paho's packet objects) in the terms of `decoded`."""
    return decoded(paho_speedups.decode_publish, header, body)


@pytest.mark.parametrize("ours", [full, slim], ids=["decode_publish", "decode_publish_slim"])
def test_publish_decoding_matches_pahos_on_good_and_mangled_packets(
        ours: Callable[[int, bytes], tuple[object, ...] | str]) -> None:
    rng = random.Random(7)
    packets = [publish_packet(m, f"sems/v1/t/{m}", b"p" * (m % 5), trace_id=f"t{m}" if m % 2 else None,
                              header=(0x30, 0x32, 0x3B, 0x33)[m % 4]) for m in range(1, 60)]
    cases = 0
    for packet in packets:
        header, body = packet[0], packet[2:] if packet[1] < 0x80 else packet[3:]
        variants = [body, body[:1], body[:3], body[:-1], b"", b"\xff\xff" + body[2:]]
        variants += [bytes(rng.randrange(256) if rng.random() < 0.1 else b for b in body) for _ in range(20)]
        for variant in variants:
            assert ours(header, variant) == decoded(paho_packet.decode_publish, header, variant), (header, variant)
            cases += 1
    assert cases > 1000


def test_delivered_publishes_keep_their_order_when_packets_are_cut() -> None:
    paho_speedups.apply()
    client, broker, received = delivering(mqtt.Client)
    stream = b"".join(publish_packet(mid, "sems/v1/readings/f/m", b"%d" % mid) for mid in range(1, 50))
    for start in range(0, len(stream), 37):  # packets cut by the buffer's end go through paho's own read
        broker.sendall(stream[start:start + 37])
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert [(m[0], m[2]) for m in received] == [(mid, b"%d" % mid) for mid in range(1, 50)]


def test_a_malformed_publish_ends_the_connection_as_with_paho() -> None:
    paho_speedups.apply()
    client, broker, received = delivering(mqtt.Client)
    good = publish_packet(1, "sems/v1/readings/f/m", b"{}")
    broker.sendall(good + bytes([0x32, 0x03, 0x00, 0x09, 0x61]))  # topic length 9, one byte of it
    assert client.loop_read() == mqtt.MQTT_ERR_PROTOCOL
    assert [m[0] for m in received] == [1]


@pytest.mark.parametrize("connect", [wired, delivering], ids=["paho_dispatch", "publishes_delivered"])
def test_filtered_callbacks_still_take_their_topics(connect: Callable[..., Any]) -> None:
    paho_speedups.apply()
    client, broker, received = connect(mqtt.Client)
    filtered: list[str] = []
    client.message_callback_add("sems/v1/batches/#", lambda _c, _u, m: filtered.append(m.topic))
    broker.sendall(publish_packet(1, "sems/v1/batches/f", b"{}") + publish_packet(2, "sems/v1/readings/f/m", b"{}"))
    client.loop_read()
    assert filtered == ["sems/v1/batches/f"] and [m[0] for m in received] == [2]


def test_publishes_are_delivered_only_to_a_client_that_acknowledges_them_itself() -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    with pytest.raises(ValueError, match="manual"):
        paho_speedups.deliver_publishes(client, lambda _m: None)
