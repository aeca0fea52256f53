"""What arrives over MQTT: the message, when and on which connection, its topic and its trace id (M1)."""

from __future__ import annotations

import re
from typing import NamedTuple

import paho.mqtt.client as mqtt

from sems import logs
from streaming.bridge.paho_speedups import Publish

_TRACE_ID = re.compile(r"[0-9A-Za-z._:-]{1,128}")


class Inbound(NamedTuple):  # a tuple: made once per message, cheaper than a frozen dataclass
    """An MQTT message as queued by paho's thread: with its connection generation and arrival time."""

    message: mqtt.MQTTMessage | Publish
    generation: int
    received_at_ms: int


def trace_id_of(message: mqtt.MQTTMessage | Publish) -> str:
    """The trace id a client supplied as MQTT 5 user property `trace_id`, or a new one."""
    for key, value in getattr(message.properties, "UserProperty", None) or []:
        if key == "trace_id" and _TRACE_ID.fullmatch(value):
            return str(value)
    return logs.new_trace_id()


def message_topic(message: mqtt.MQTTMessage | Publish) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:  # the broker should refuse such topics; the contract rejects them if not
        return message._topic.decode("utf-8", "replace")  # noqa: SLF001 - paho exposes no raw accessor
