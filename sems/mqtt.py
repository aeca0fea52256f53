"""MQTT clients for SEMS: one factory the bridge, the simulator, health checks and tests share.

paho-mqtt 2 with the VERSION2 callback API and MQTT 5 (session expiry, user properties for
trace ids, reason codes on every acknowledgement). Topics follow the README's contract.
"""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sems.settings import Settings


def readings_topic(settings: Settings, facility_id: str, meter_id: str) -> str:
    """Topic of one meter's single readings."""
    return f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{meter_id}"


def batches_topic(settings: Settings, facility_id: str) -> str:
    """Topic of a facility gateway's batches of readings."""
    return f"{settings.mqtt_topic_prefix}/batches/{facility_id}"


def mqtt_client(settings: Settings, client_id: str, username: str | None, password: str | None) -> mqtt.Client:
    """An MQTT 5 client with credentials and timeouts set; connect it with `client.connect(settings.host, ...)`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect_timeout = settings.mqtt_timeout_s
    # Reconnect quickly after a broker restart, without hammering a broker that stays down.
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def device_credentials(settings: Settings, facility_id: str) -> tuple[str, str]:
    """(user name, password) of the device of `facility_id`: the facility id and the fleet's device password."""
    return facility_id, settings.mqtt_device_password.get_secret_value()


def device_client(settings: Settings, facility_id: str, client_id: str) -> mqtt.Client:
    """A client with the device credentials of `facility_id` (it may publish only under its own topics)."""
    return mqtt_client(settings, client_id, *device_credentials(settings, facility_id))


def bridge_client(settings: Settings, client_id: str) -> mqtt.Client:
    """A client with the bridge's credentials (it may read every SEMS topic).

    `client_id` names the MQTT session: the bridge's own is `settings.bridge_client_id`; anything else
    (tests, probes) must use another id, or it would take over the bridge's queued session.
    """
    password = settings.mqtt_bridge_password.get_secret_value()
    return mqtt_client(settings, client_id, settings.mqtt_bridge_user, password)


def connack(client: mqtt.Client, settings: Settings, timeout_s: float) -> ReasonCode | None:
    """Connect `client`, wait up to `timeout_s` for the broker's CONNACK, disconnect; None if none came.

    The reason code says why a refused connection was refused (bad credentials, not authorised).
    """
    answered = threading.Event()
    result: list[ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        result.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout_s
    try:
        client.connect(settings.host, settings.mqtt_port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        answered.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0] if result else None


def can_connect(settings: Settings, username: str | None, password: str | None, timeout_s: float = 2.0) -> bool:
    """True if the broker accepts these credentials within `timeout_s` (a real MQTT handshake, not just TCP)."""
    client = mqtt_client(settings, f"sems-probe-{uuid.uuid4().hex[:12]}", username, password)
    reason = connack(client, settings, timeout_s)
    return reason is not None and not reason.is_failure
