"""Kafka as SEMS uses it: the topics it owns and factories for its admin, producer and consumer clients.

Topics are created explicitly (the broker has auto-creation off), so a typo in a topic
name fails loudly instead of creating a one-partition topic nobody reads. Every client
gets explicit timeouts derived from `settings.kafka_timeout_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from sems.settings import Settings
from sems.stack.service import StackError


@dataclass(frozen=True)
class TopicSpec:
    """A topic SEMS owns: its name, minimum partition count and topic-level configs."""

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The readings topic (over-partitioned so consumers can scale out, S3) and the two DLQs."""
    dlq_configs = {"retention.ms": str(settings.kafka_dlq_retention_ms), "cleanup.policy": "delete"}
    return [
        TopicSpec(
            settings.kafka_readings_topic,
            settings.kafka_readings_partitions,
            {"retention.ms": str(settings.kafka_readings_retention_ms), "cleanup.policy": "delete"},
        ),
        TopicSpec(settings.kafka_readings_dlq_topic, settings.kafka_dlq_partitions, dlq_configs),
        TopicSpec(settings.kafka_questdb_dlq_topic, settings.kafka_dlq_partitions, dlq_configs),
        # Forecasts PostgreSQL refused (C1): kept as long as the DLQs, replayed when it is back.
        TopicSpec(settings.kafka_forecasts_buffer_topic, settings.kafka_dlq_partitions, dlq_configs),
    ]


def _timeouts(settings: Settings) -> dict[str, int]:
    timeout_ms = int(settings.kafka_timeout_s * 1000)
    return {"request_timeout_ms": timeout_ms, "bootstrap_timeout_ms": timeout_ms}


def admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    """An admin client for the configured broker; the caller closes it."""
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **{**_timeouts(settings), **overrides})


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all, so a retried send is never written twice)."""
    timeout_ms = int(settings.kafka_timeout_s * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "batch_size": settings.kafka_producer_batch_bytes,
        "request_timeout_ms": timeout_ms,
        "max_block_ms": timeout_ms,
        # delivery_timeout_ms must cover linger + request timeout, or the client refuses the config.
        "delivery_timeout_ms": max(3 * timeout_ms, 30_000),
        "allow_auto_create_topics": False,
        "bootstrap_timeout_ms": timeout_ms,
    }
    return KafkaProducer(**{**config, **overrides})


def consumer(settings: Settings, group_id: str, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer in `group_id` that commits only when told to, with cooperative rebalancing (S3)."""
    timeout_ms = int(settings.kafka_timeout_s * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "partition_assignment_strategy": (CooperativeStickyAssignor,),
        "allow_auto_create_topics": False,
        "bootstrap_timeout_ms": timeout_ms,
        # The broker's minimum group.min.session.timeout.ms is 6 s; request timeout must exceed it.
        "request_timeout_ms": max(timeout_ms, 40_000),
    }
    return KafkaConsumer(*topics, **{**config, **overrides})


def broker_answers(settings: Settings, *, timeout_s: float) -> bool:
    """True if the broker answers a cluster description within `timeout_s` (health probe)."""
    timeout_ms = int(timeout_s * 1000)
    try:
        with closing(admin(settings, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)) as client:
            return bool(client.describe_cluster().get("brokers"))
    except (KafkaError, OSError):
        return False


def partition_counts(client: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each existing topic among `names` (missing topics are left out)."""
    counts = {}
    for topic in client.describe_topics(names):
        if topic["error_code"] == UnknownTopicOrPartitionError.errno:
            continue
        counts[topic["name"]] = len(topic["partitions"])
    return counts


def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics SEMS owns if missing and (re)apply their configs; returns the names created.

    A topic that exists with fewer partitions than required is an operator problem (keys
    would move between partitions if we added some silently), so it raises `StackError`.
    """
    specs = topic_specs(settings)
    names = [s.name for s in specs]
    with closing(admin(settings)) as client:
        counts = partition_counts(client, names)
        created = _create_missing(settings, client, [s for s in specs if s.name not in counts])
        if created != [s.name for s in specs if s.name not in counts]:
            counts = partition_counts(client, names)  # another `up` created some concurrently
        for spec in specs:
            if spec.name not in created and counts.get(spec.name, 0) < spec.partitions:
                raise StackError(
                    f"Kafka topic {spec.name} has {counts.get(spec.name, 0)} partitions, {spec.partitions} required: "
                    f"delete it or raise its partitions with kafka-topics --alter, then retry"
                )
        present = [s for s in specs if s.name not in created]
        if present:
            client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s.name, dict(s.configs)) for s in present])
    return created


def _create_missing(settings: Settings, client: KafkaAdminClient, missing: list[TopicSpec]) -> list[str]:
    """Create `missing` topics; returns those this call created (others may exist already)."""
    if not missing:
        return []
    new = {s.name: {"num_partitions": s.partitions, "replication_factor": 1, "configs": dict(s.configs)}
           for s in missing}
    result = client.create_topics(new, timeout_ms=int(settings.kafka_timeout_s * 1000), raise_errors=False)
    created = []
    for topic in result["topics"]:
        if topic["error_code"] == 0:
            created.append(topic["name"])
        elif topic["error_code"] != TopicAlreadyExistsError.errno:
            raise StackError(f"creating Kafka topic {topic['name']} failed: {topic.get('error_message') or topic}")
    if created:
        client.wait_for_topics(created, timeout_ms=int(settings.kafka_timeout_s * 1000))
    return created


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    """The non-default configs of topic `name` (used by tests and `status`-style checks)."""
    with closing(admin(settings)) as client:
        described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    entries = described["topic"][name]
    return {key: str(entry["value"] if isinstance(entry, dict) else entry) for key, entry in entries.items()}
