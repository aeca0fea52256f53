"""A minimal MQTT 5 QoS 1 publisher for the bench: pre-encoded PUBLISH packets, pipelined, acks read in bulk.

paho spends some 100 us of Python per QoS 1 message (message info objects, per-packet
locks and wake-ups, one read per ack): the bench's own clients, not the bridge, capped
single-reading mode near 5,000 messages/s. This client only publishes: CONNECT with a
device's credentials, then PUBLISH packets written many per `send`, at most
`window` unacknowledged (never more than the broker's Receive Maximum), and PUBACKs taken
from large reads. It is bench code; the system under test starts at the broker.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CONNECT, CONNACK, PUBLISH_QOS1, PUBACK, DISCONNECT = 0x10, 0x20, 0x32, 0x40, 0xE0
MAX_PACKET_ID = 65535
_U16 = struct.Struct("!H")


class MQTTRefused(ConnectionError):
    """The broker refused the connection (bad credentials, not authorised, ...) or dropped it."""


def varint(value: int) -> bytes:
    """MQTT's variable byte integer (remaining lengths, property lengths)."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_publish(name: bytes, packet_id: int, payload: bytes) -> bytes:
    """A QoS 1 PUBLISH: fixed header, `name` (the length-prefixed topic), packet id, no properties, payload."""
    body_len = len(name) + 3 + len(payload)
    return b"%c%s%s%s\x00%s" % (PUBLISH_QOS1, varint(body_len), name, _U16.pack(packet_id), payload)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return _U16.pack(len(raw)) + raw


class Publisher:
    """One MQTT 5 connection that publishes QoS 1 messages; `acked` counts PUBACKed weight.

    Each message carries a weight (the readings in it); only messages the broker acknowledged
    with a success reason code count, as with paho's `on_publish`.
    """

    def __init__(self, host: str, port: int, client_id: str, username: str, password: str,
                 window: int, timeout_s: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.timeout_s = timeout_s
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.window = self._connect(client_id, username, password, window)
        self.inflight: dict[int, int] = {}  # packet id -> weight
        self.acked = self.refused = 0
        self._next_id = 0
        self._topics: dict[str, bytes] = {}
        self._unread = b""

    def _connect(self, client_id: str, username: str, password: str, window: int) -> int:
        flags = 0x80 | 0x40 | 0x02  # user name, password, clean start
        header = _string("MQTT") + bytes([5, flags]) + _U16.pack(60) + varint(0)  # keepalive 60 s, no properties
        body = header + _string(client_id) + _string(username) + _string(password.encode())
        self.sock.sendall(bytes([CONNECT]) + varint(len(body)) + body)
        command, body = self._read_packet()
        if command != CONNACK or len(body) < 2 or body[1] >= 0x80:
            raise MQTTRefused(f"broker refused the connection: packet 0x{command:02x}, {body[:2].hex()}")
        props = Properties(PacketTypes.CONNACK)
        props.unpack(bytearray(body[2:]))
        return min(window, getattr(props, "ReceiveMaximum", MAX_PACKET_ID))

    def publish(self, messages: Iterable[tuple[str, bytes, int]]) -> None:
        """Send (topic, payload, weight) messages in one write; the caller keeps to `room()`."""
        packets = []
        for topic, payload, weight in messages:
            packet_id = self._packet_id()
            self.inflight[packet_id] = weight
            name = self._topics.get(topic) or self._topics.setdefault(topic, _string(topic))
            packets.append(encode_publish(name, packet_id, payload))
        self.sock.sendall(b"".join(packets))

    def room(self) -> int:
        return self.window - len(self.inflight)

    def read_acks(self, timeout_s: float) -> None:
        """Take every PUBACK that arrives within `timeout_s` (0: only what is there already)."""
        self.sock.settimeout(timeout_s if timeout_s > 0 else 0.0)
        try:
            data = self.sock.recv(256 * 1024)
        except (BlockingIOError, TimeoutError):
            return
        finally:
            self.sock.settimeout(self.timeout_s)
        if not data:
            raise MQTTRefused("the broker closed the connection")
        self._take(self._unread + data)

    def close(self) -> None:
        try:
            self.sock.sendall(bytes([DISCONNECT, 0]))
        except OSError:
            pass
        self.sock.close()

    def _take(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos + 2 <= end:
            if data[pos] == PUBACK and data[pos + 1] == 2:  # the common form: success, no reason code
                if pos + 4 > end:
                    break
                self._settle(data[pos + 2] << 8 | data[pos + 3], 0)
                pos += 4
                continue
            length, size_len = _read_varint(data, pos + 1)
            if length < 0 or pos + 1 + size_len + length > end:
                break  # incomplete: wait for the rest
            body = data[pos + 1 + size_len:pos + 1 + size_len + length]
            if data[pos] & 0xF0 != PUBACK:
                raise MQTTRefused(f"unexpected packet 0x{data[pos]:02x} from the broker")
            self._settle(_U16.unpack_from(body)[0], body[2] if len(body) > 2 else 0)
            pos += 1 + size_len + length
        self._unread = data[pos:]

    def _settle(self, packet_id: int, reason: int) -> None:
        weight = self.inflight.pop(packet_id, 0)
        if reason < 0x80:
            self.acked += weight
        else:
            self.refused += weight

    def _packet_id(self) -> int:
        while True:  # ids in order, skipping one still in flight (only after a full wrap-around)
            self._next_id = self._next_id % MAX_PACKET_ID + 1
            if self._next_id not in self.inflight:
                return self._next_id

    def _read_packet(self) -> tuple[int, bytes]:
        data = b""
        while True:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise MQTTRefused("the broker closed the connection")
            data += chunk
            length, size_len = _read_varint(data, 1)
            if length >= 0 and len(data) >= 1 + size_len + length:
                self._unread = data[1 + size_len + length:]
                return data[0], data[1 + size_len:1 + size_len + length]


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, bytes used) of the variable byte integer at `pos`; (-1, 0) if it is not complete yet."""
    value, shift = 0, 0
    for used in range(1, 5):
        if pos + used - 1 >= len(data):
            return -1, 0
        byte = data[pos + used - 1]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, used
        shift += 7
    raise MQTTRefused("malformed remaining length from the broker")
