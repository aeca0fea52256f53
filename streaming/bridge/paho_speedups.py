"""Speed-ups of paho-mqtt 2.x for a subscriber that takes thousands of small messages a second.

Applied by the bridge at start (`apply`, idempotent); the bench's load generator uses them too.
Each one keeps paho's behaviour; tests/streaming/bridge/test_paho_speedups.py compares it
with paho's own code on the same input.

- MQTT 5 `Properties`: paho builds three lookup tables (about 60 entries) afresh for every
  packet it decodes and `clear()` probes all 27 property names with `hasattr`; a third of
  the bridge's CPU in single-reading mode. The tables are built once and shared (no method
  mutates them) and `clear` deletes only the properties actually set.
- Socket reads: paho reads a packet with 3-4 `recv` calls (command byte, each length byte,
  body) and handles one packet per `select()` wake-up. Reads are served from a per-socket
  buffer filled by one large `recv`, a packet that is whole in the buffer is taken in one
  step (paho's byte-wise read resumes packets cut by the buffer's end), and `loop_read`
  goes on while the buffer holds bytes; select() does not see bytes already in userspace,
  so while some wait `_loop` does not block in it and reads them after it. TLS and
  websocket connections keep paho's own reads.
- Received messages: paho gives every incoming message an `MQTTMessageInfo`, with a
  `threading.Condition`, though only outgoing messages use one (27 % of the bridge's CPU at
  15,000 messages/s); it is made only if asked for. MQTT 5 PUBLISH packets are decoded
  by index instead of three `struct` formats built per packet, and empty properties are not
  parsed. And paho matches every topic against its tree of filtered callbacks even when it
  is empty; then the matcher is skipped.
- `deliver_publishes`: for a subscriber that takes every QoS 0/1 message itself (manual acks,
  no filtered callbacks), whole MQTT 5 PUBLISH packets in the read buffer are decoded in one
  tight loop into slim `Publish` objects and handed to one callback, past paho's per-packet
  dispatch (its packet state, handler chain, message object, two mutexes and `on_message`);
  about 40 % of the bridge's CPU in single-reading mode. Every other packet, and any packet
  cut by the buffer's end, still goes through paho.
- `send_pubacks`: the PUBACKs of many messages as one queued write (one socket send, one
  wake-up of paho's loop) instead of one `ack()` each.
- `pause_reading_while`: paho reads whatever the broker sends; with the patched `loop_read`
  a client can stop reading (TCP flow control then holds the broker back) while it still
  writes its PUBACKs and pings.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt import _packet as paho_packet
from paho.mqtt import properties as paho_properties
from paho.mqtt.client import PUBACK, PUBLISH, MQTTErrorCode
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes

READ_CHUNK_BYTES = 256 * 1024
PACKETS_PER_LOOP_READ = 2000
READ_PAUSE_S = 0.01  # a paused loop_read sleeps this long: select() would report the unread bytes at once
_TABLES = ("types", "names", "properties")
_PUBACK = struct.Struct("!BBH")  # what paho's _send_command_with_mid packs: no reason code = success
# Paho's own code, kept for the equivalence tests (and for what the patches hand back to it).
ORIGINAL_INIT = paho_properties.Properties.__init__
ORIGINAL_SOCK_RECV = mqtt.Client._sock_recv  # noqa: SLF001
ORIGINAL_LOOP_READ = mqtt.Client.loop_read
ORIGINAL_HANDLE_ON_MESSAGE = mqtt.Client._handle_on_message  # noqa: SLF001
ORIGINAL_HANDLE_PUBLISH = mqtt.Client._handle_publish  # noqa: SLF001
ORIGINAL_PACKET_READ = mqtt.Client._packet_read  # noqa: SLF001
ORIGINAL_LOOP = mqtt.Client._loop  # noqa: SLF001
_INFO_SLOT: Any = vars(mqtt.MQTTMessage)["info"]  # the slot the subclass below fills lazily


def apply() -> None:
    """Patch paho's `Properties` and `Client` (idempotent)."""
    _share_property_tables()
    client = mqtt.Client
    client._sock_recv = _sock_recv  # type: ignore[method-assign]  # noqa: SLF001
    client.loop_read = _loop_read  # type: ignore[method-assign]
    client._loop = _loop  # type: ignore[method-assign]  # noqa: SLF001
    client._packet_read = _packet_read  # type: ignore[method-assign]  # noqa: SLF001
    client._handle_publish = _handle_publish  # type: ignore[method-assign]  # noqa: SLF001
    client._handle_on_message = _handle_on_message  # type: ignore[method-assign]  # noqa: SLF001


def send_pubacks(client: mqtt.Client, mids: Sequence[int]) -> None:
    """Queue the PUBACKs of QoS 1 messages `mids`, in this order, as one write: the bytes of `ack()` each."""
    if mids:
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
        client._packet_queue(PUBACK, packet, 0, 0)  # noqa: SLF001 - paho has no public batch ack


def deliver_publishes(client: mqtt.Client, on_publish: Callable[[Publish], None]) -> None:
    """Hand QoS 0/1 messages to `on_publish` as `Publish`es, past paho's dispatch (needs `apply()` and manual acks).

    Called on paho's thread, in arrival order, instead of `on_message`; QoS 2 messages and
    messages for filtered callbacks still go to paho.
    """
    if not client._manual_ack:  # noqa: SLF001 - paho would have to acknowledge them itself
        raise ValueError("deliver_publishes needs manual acknowledgements")
    client._sems_on_publish = on_publish  # type: ignore[attr-defined]  # noqa: SLF001


def pause_reading_while(client: mqtt.Client, paused: Callable[[], bool]) -> None:
    """Read nothing from the broker while `paused()` is true (needs `apply()`); called on paho's thread.

    A pause longer than about twice the keepalive ends in a reconnect: the broker's PINGRESP waits
    behind the unread messages, so paho takes the connection for dead.
    """
    client._sems_read_paused = paused  # type: ignore[attr-defined]  # noqa: SLF001


def _share_property_tables() -> None:
    cls = paho_properties.Properties
    if getattr(cls, "_sems_shared_tables", None) is not None:
        return
    prototype = cls(PacketTypes.PUBLISH)
    shared = {name: getattr(prototype, name) for name in _TABLES}

    def __init__(self: Any, packetType: int) -> None:  # noqa: N802, N803 - paho's names
        object.__setattr__(self, "packetType", packetType)
        for name, table in shared.items():
            object.__setattr__(self, name, table)

    def clear(self: Any) -> None:
        for name in [n for n in vars(self) if n not in ("packetType", *_TABLES)]:
            delattr(self, name)

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls.clear = clear  # type: ignore[method-assign]
    cls._sems_shared_tables = shared  # type: ignore[attr-defined]


class _ReadBuffer:
    """Bytes read from one socket ahead of what paho asked for."""

    __slots__ = ("data", "pos", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.data, self.pos = sock, b"", 0

    def read(self, size: int) -> bytes:
        """Up to `size` bytes, like `recv`: b"" at EOF, BlockingIOError when nothing is there."""
        if self.pos >= len(self.data):
            self.data, self.pos = self.sock.recv(READ_CHUNK_BYTES), 0
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk

    def take_packet(self) -> tuple[int, int, bytes] | None:
        """(command, remaining length, rest) of the next packet if all of it is buffered, else None."""
        data, start = self.data, self.pos
        length, shift, pos = 0, 0, start + 1
        while True:
            if pos >= len(data) or shift > 21:  # cut, or a malformed length paho's own read reports
                return None
            byte = data[pos]
            length, shift, pos = length | (byte & 0x7F) << shift, shift + 7, pos + 1
            if not byte & 0x80:
                break
        if pos + length > len(data):
            return None
        self.pos = pos + length
        return data[start], length, data[pos:pos + length]


def _buffer(client: Any) -> _ReadBuffer | None:
    """The client's read buffer if it belongs to the current socket (a reconnect starts afresh)."""
    buffer: _ReadBuffer | None = client.__dict__.get("_sems_read_buffer")
    return buffer if buffer is not None and buffer.sock is client._sock else None  # noqa: SLF001


def _sock_recv(self: Any, bufsize: int) -> bytes:
    sock = self._sock
    if type(sock) is not socket.socket:  # TLS (its own buffering, `pending()`), websockets, no socket
        return ORIGINAL_SOCK_RECV(self, bufsize)
    buffer = _buffer(self)
    if buffer is None:
        buffer = self._sems_read_buffer = _ReadBuffer(sock)
    return buffer.read(bufsize)


def _packet_state(command: int = 0, length: int = 0, packet: bytes = b"") -> dict[str, Any]:
    """Paho's `_in_packet`: empty, or a whole packet read."""
    return {"command": command, "have_remaining": 1 if command else 0, "remaining_count": [],
            "remaining_mult": 1, "remaining_length": length, "packet": bytearray(packet), "to_process": 0, "pos": 0}


def _packet_read(self: Any) -> MQTTErrorCode:
    """Paho's `_packet_read`, taking a packet that is whole in the read buffer in one step."""
    buffer = _buffer(self) if self._in_packet["command"] == 0 else None
    whole = buffer.take_packet() if buffer is not None else None
    if whole is None:
        return ORIGINAL_PACKET_READ(self)  # type: ignore[no-any-return]
    self._in_packet = _packet_state(*whole)
    try:
        rc = self._packet_handle()
    except MalformedPacket as exc:
        self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
        rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
    self._in_packet = _packet_state()
    with self._msgtime_mutex:
        self._last_bytes_received = mqtt.time_func()
    return rc  # type: ignore[no-any-return]


def _buffered(client: Any) -> bool:
    """Whether bytes wait in the client's read buffer (select() does not see them)."""
    buffer = _buffer(client)
    return buffer is not None and buffer.pos < len(buffer.data)


def _loop(self: Any, timeout: float = 1.0) -> MQTTErrorCode:
    """Paho's `_loop`; while packets wait in the read buffer select() must not block, and they are read after it."""
    if not _buffered(self):
        return ORIGINAL_LOOP(self, timeout)  # type: ignore[no-any-return]
    rc = ORIGINAL_LOOP(self, 0.0)
    if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and _buffered(self):
        rc = self.loop_read()
    return rc  # type: ignore[no-any-return]


def _loop_read(self: Any, max_packets: int = 1) -> MQTTErrorCode:
    """Paho's `loop_read`, going on while packets wait in the read buffer (up to `PACKETS_PER_LOOP_READ`).

    It stops early when paused; what is left in the buffer is read on a later `_loop`.
    """
    if self._sock is None:
        return MQTTErrorCode.MQTT_ERR_NO_CONN
    paused = self.__dict__.get("_sems_read_paused")
    if paused is not None and paused():
        time.sleep(READ_PAUSE_S)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
    budget = max(len(self._out_messages) + len(self._in_messages), 1)  # paho's own count
    on_publish = self.__dict__.get("_sems_on_publish")
    if on_publish is not None and self._on_message_filtered._root._children:  # noqa: SLF001
        on_publish = None  # paho's matcher decides who takes which topic
    for _ in range(PACKETS_PER_LOOP_READ):  # then paho's loop writes (PUBACKs) and keeps the connection alive
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        rc = _publish_read(self, on_publish) if on_publish is not None else None
        if rc is None:
            rc = self._packet_read()
        if rc > 0:
            return self._loop_rc_handle(rc)  # type: ignore[no-any-return]
        if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        budget -= 1
        if (budget <= 0 and not _buffered(self)) or (paused is not None and paused()):
            break
    return MQTTErrorCode.MQTT_ERR_SUCCESS


def _publish_read(client: Any, on_publish: Callable[[Publish], None]) -> MQTTErrorCode | None:
    """Take the next packet if it is a whole MQTT 5 QoS 0/1 PUBLISH in the read buffer; None: paho reads it."""
    buffer = _buffer(client) if client._in_packet["command"] == 0 else None
    if buffer is None or buffer.pos >= len(buffer.data) or client._protocol != MQTTProtocolVersion.MQTTv5:
        return None
    header = buffer.data[buffer.pos]
    if header & 0xF0 != PUBLISH or header & 0x06 > 2:  # not a PUBLISH, or QoS 2 (paho's handshake)
        return None
    whole = buffer.take_packet()
    if whole is None:
        return None
    try:
        message = decode_publish_slim(header, whole[2])
    except MalformedPacket as exc:
        client._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
        return MQTTErrorCode.MQTT_ERR_PROTOCOL
    with client._msgtime_mutex:
        client._last_bytes_received = message.timestamp = mqtt.time_func()
    on_publish(message)
    return MQTTErrorCode.MQTT_ERR_SUCCESS


class Publish:
    """A received QoS 0/1 PUBLISH: the fields of paho's `MQTTMessage` a subscriber reads, without its machinery."""

    __slots__ = ("_topic", "dup", "mid", "payload", "properties", "qos", "retain", "timestamp")

    def __init__(self, header: int, mid: int, topic: bytes, payload: bytes,
                 properties: paho_properties.Properties | None) -> None:
        self.mid, self._topic, self.payload, self.properties = mid, topic, payload, properties
        self.qos, self.dup, self.retain = (header & 0x06) >> 1, bool(header & 0x08), bool(header & 0x01)
        self.timestamp = 0.0

    @property
    def topic(self) -> str:
        """As `MQTTMessage.topic`: UTF-8, raising `UnicodeDecodeError` for other bytes."""
        return self._topic.decode("utf-8")


def decode_publish_slim(header: int, packet: bytes) -> Publish:
    """An MQTT 5 QoS 0/1 PUBLISH body as a `Publish` (properties None when empty); `MalformedPacket` as paho's."""
    try:
        size = len(packet)
        if size < 2:
            raise MalformedPacket("no topic length")
        end = 2 + (packet[0] << 8 | packet[1])
        if end > size:
            raise MalformedPacket("topic longer than the packet")
        topic, mid = packet[2:end], 0
        if header & 0x06:
            if end + 2 > size:
                raise MalformedPacket("no packet id")
            mid, end = packet[end] << 8 | packet[end + 1], end + 2
        properties = None
        if packet[end] == 0:  # no properties, the common case: nothing to parse
            end += 1
        else:
            properties = paho_properties.Properties(PacketTypes.PUBLISH)
            _props, used = properties.unpack(packet[end:])
            end += used
        return Publish(header, mid, topic, packet[end:], properties)
    except MalformedPacket:
        raise
    except paho_packet.DECODE_ERRORS as err:
        raise MalformedPacket(str(err)) from err


def _handle_on_message(self: Any, message: mqtt.MQTTMessage) -> None:
    """Paho's dispatch without the topic matcher when no filtered callback is registered."""
    if self._on_message_filtered._root._children:  # noqa: SLF001
        ORIGINAL_HANDLE_ON_MESSAGE(self, message)
        return
    with self._callback_mutex:
        on_message = self.on_message
    if on_message:
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise


class ReceivedMessage(mqtt.MQTTMessage):
    """An incoming `MQTTMessage` whose `info` (a Condition, for outgoing messages) is made on first use."""

    __slots__ = ()

    def __init__(self, mid: int, topic: bytes) -> None:  # paho's __init__ without the MQTTMessageInfo
        self.timestamp, self.state, self.dup = 0.0, mqtt.mqtt_ms_invalid, False
        self.mid, self._topic, self.payload = mid, topic, b""
        self.qos, self.retain, self.properties = 0, False, None

    @property  # type: ignore[override]
    def info(self) -> mqtt.MQTTMessageInfo:
        try:
            return _INFO_SLOT.__get__(self)  # type: ignore[no-any-return]
        except AttributeError:
            info = mqtt.MQTTMessageInfo(self.mid)
            _INFO_SLOT.__set__(self, info)
            return info

    @info.setter
    def info(self, value: mqtt.MQTTMessageInfo) -> None:
        _INFO_SLOT.__set__(self, value)


def _handle_publish(self: Any) -> MQTTErrorCode:
    """Paho's handling of a QoS 0 or 1 PUBLISH, the message made as a `ReceivedMessage` (QoS 2: paho's own)."""
    command = self._in_packet["command"]
    if (command & 0x06) >> 1 == 2:
        return ORIGINAL_HANDLE_PUBLISH(self)  # type: ignore[no-any-return]
    result = decode_publish(command, self._in_packet["packet"], self._protocol)
    message = ReceivedMessage(result.mid, result.topic)
    message.dup, message.qos, message.retain = result.dup, result.qos, result.retain
    message.properties, message.payload = result.properties, result.payload
    if self.on_log is not None or self._logger is not None:  # paho's debug line, only when someone listens
        self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received PUBLISH (d%d, q%d, r%d, m%d), %r, properties=%s, ...  (%d bytes)",
                       message.dup, message.qos, message.retain, message.mid, result.topic, message.properties,
                       len(message.payload))
    message.timestamp = mqtt.time_func()
    self._handle_on_message(message)
    if message.qos == 0 or self._manual_ack:
        return MQTTErrorCode.MQTT_ERR_SUCCESS
    return self._send_puback(message.mid)  # type: ignore[no-any-return]


def decode_publish(header: int, packet: bytes | bytearray, protocol: int) -> paho_packet.PublishPacket:
    """Paho's `decode_publish` for MQTT 5 by index: same fields, same `MalformedPacket` on bad input."""
    if protocol != MQTTProtocolVersion.MQTTv5:
        return paho_packet.decode_publish(header, packet, protocol)  # type: ignore[arg-type]
    try:
        qos = (header & 0x06) >> 1
        if len(packet) < 2:
            raise MalformedPacket("no topic length")
        end = 2 + (packet[0] << 8 | packet[1])
        if end > len(packet):
            raise MalformedPacket("topic longer than the packet")
        topic, mid = bytes(packet[2:end]), 0
        if qos > 0:
            if end + 2 > len(packet):
                raise MalformedPacket("no packet id")
            mid, end = packet[end] << 8 | packet[end + 1], end + 2
        properties = paho_properties.Properties(PacketTypes.PUBLISH)
        if packet[end] == 0:  # no properties, the common case: nothing to parse
            end += 1
        else:
            _props, used = properties.unpack(packet[end:])
            end += used
        return paho_packet.PublishPacket(dup=(header & 0x08) != 0, qos=qos, retain=(header & 0x01) != 0, topic=topic,
                                         mid=mid, properties=properties, payload=bytes(packet[end:]))
    except MalformedPacket:
        raise
    except paho_packet.DECODE_ERRORS as err:
        raise MalformedPacket(str(err)) from err
