"""Kafka store client against the running test stack: owned topics, their configs, producer/consumer factories."""

from __future__ import annotations

import uuid
from contextlib import closing

import pytest

from sems.settings import Settings
from sems.stack.service import StackError
from sems.stores import kafka as kafka_store
from tests.support import wait_until


def test_readings_topic_has_12_partitions_and_14_day_retention(settings: Settings) -> None:
    with closing(kafka_store.admin(settings)) as client:
        counts = kafka_store.partition_counts(client, [settings.kafka_readings_topic])
    assert counts == {settings.kafka_readings_topic: 12}
    configs = kafka_store.topic_configs(settings, settings.kafka_readings_topic)
    assert configs["retention.ms"] == str(14 * 24 * 3600 * 1000)


def test_dlq_topics_exist_with_long_retention(settings: Settings) -> None:
    for topic in (settings.kafka_readings_dlq_topic, settings.kafka_questdb_dlq_topic):
        assert int(kafka_store.topic_configs(settings, topic)["retention.ms"]) >= 30 * 24 * 3600 * 1000


def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    assert kafka_store.ensure_topics(settings) == []
    assert kafka_store.ensure_topics(settings) == []


def test_ensure_topics_creates_a_missing_topic(settings: Settings) -> None:
    name = f"test-created-{uuid.uuid4().hex[:8]}"
    custom = settings.model_copy(update={"kafka_readings_dlq_topic": name})
    try:
        assert kafka_store.ensure_topics(custom) == [name]
        with closing(kafka_store.admin(settings)) as client:
            assert kafka_store.partition_counts(client, [name]) == {name: settings.kafka_dlq_partitions}
    finally:
        with closing(kafka_store.admin(settings)) as client:
            client.delete_topics([name])


def test_topic_with_too_few_partitions_is_refused(settings: Settings) -> None:
    name = f"test-small-{uuid.uuid4().hex[:8]}"
    with closing(kafka_store.admin(settings)) as client:
        client.create_topics({name: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
    try:
        with pytest.raises(StackError, match=f"{name} has 2 partitions, 12 required"):
            kafka_store.ensure_topics(settings.model_copy(update={"kafka_readings_topic": name}))
    finally:
        with closing(kafka_store.admin(settings)) as client:
            client.delete_topics([name])


def test_broker_refuses_to_auto_create_topics(settings: Settings) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    with closing(kafka_store.admin(settings)) as client:
        described = client.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", {"auto.create.topics.enable": None})], config_filter="all"
        )
    assert described["broker"]["1"]["auto.create.topics.enable"]["value"] == "false"


def test_producer_and_consumer_round_trip(settings: Settings) -> None:
    marker = uuid.uuid4().hex.encode()
    topic = settings.kafka_questdb_dlq_topic
    producer = kafka_store.producer(settings)
    try:
        producer.send(topic, marker, key=b"test").get(timeout=settings.kafka_timeout_s)
    finally:
        producer.close(timeout=settings.kafka_timeout_s)
    consumer = kafka_store.consumer(settings, f"test-{marker.decode()}", topic)
    seen: list[bytes] = []
    try:
        def polled() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend(r.value for r in records)
            return marker in seen

        wait_until(polled, timeout_s=30, what="the produced record to be consumed")
        # Auto-commit is off: nothing is committed until the caller says so.
        assert all(consumer.committed(tp) is None for tp in consumer.assignment())
    finally:
        consumer.close(autocommit=False)


def test_records_of_a_gateway_batch_size_share_one_producer_batch(settings: Settings) -> None:
    # kafka-python's 16 KiB default made each ~14 KiB record a batch (and a sender wake-up) of its own.
    producer = kafka_store.producer(settings)
    try:
        futures = [producer.send(settings.kafka_questdb_dlq_topic, b"x" * 14_000, partition=0) for _ in range(20)]
        producer.flush(timeout=settings.kafka_timeout_s)
        assert [f.get(timeout=settings.kafka_timeout_s).partition for f in futures] == [0] * 20
        assert len({f.get().offset - i for i, f in enumerate(futures)}) == 1  # in order, none lost
        assert producer.metrics()["producer-metrics"]["batch-size-avg"] > 100_000
    finally:
        producer.close(timeout=settings.kafka_timeout_s)


def test_broker_answers_is_false_for_a_port_without_broker(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"kafka_port": settings.kafka_controller_port + 7})
    assert kafka_store.broker_answers(nowhere, timeout_s=1.0) is False
