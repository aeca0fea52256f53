"""Test session wiring: the settings of the isolated test stack that `make test` started, and shared fixtures."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sems.facilities import demo_fleet
from sems.mqtt import device_client
from sems.settings import Settings, get_settings
from sems.stores.kafka import consumer
from tests.support import TopicTail


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of the running test stack (`SEMS_STATE_DIR=.sems-test`, ports offset by 1000)."""
    return get_settings()


@pytest.fixture
def tail(settings: Settings) -> Iterator[Callable[[str], TopicTail]]:
    opened: list[KafkaConsumer] = []

    def open_tail(topic: str) -> TopicTail:
        kafka = consumer(settings, f"test-tail-{uuid.uuid4().hex[:8]}", enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in sorted(kafka.partitions_for_topic(topic) or [])]
        assert partitions, f"topic {topic} does not exist"
        kafka.assign(partitions)
        kafka.seek_to_end()
        for partition in partitions:
            kafka.position(partition)  # resolve the lazy seek now, before anything is published
        opened.append(kafka)
        return TopicTail(kafka)

    yield open_tail
    for kafka in opened:
        kafka.close()


@pytest.fixture
def facility_id(settings: Settings) -> str:
    return demo_fleet(settings.simulator_facilities, settings.simulator_meters)[0].facility_id


@pytest.fixture
def device(settings: Settings, facility_id: str) -> Iterator[Callable[..., None]]:
    """`publish(topic, payload, trace_id=None)`: QoS 1 as the facility's device user, waiting for the broker's ack."""
    client = device_client(settings, facility_id, client_id=f"test-device-{uuid.uuid4().hex[:8]}")
    client.connect(settings.host, settings.mqtt_port, keepalive=30)
    client.loop_start()

    def publish(topic: str, payload: bytes, trace_id: str | None = None) -> None:
        properties = None
        if trace_id:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = [("trace_id", trace_id)]
        info = client.publish(topic, payload, qos=1, properties=properties)
        info.wait_for_publish(timeout=settings.mqtt_timeout_s)
        assert info.is_published(), f"broker did not acknowledge the publish to {topic} ({info.rc})"

    yield publish
    client.disconnect()
    client.loop_stop()
