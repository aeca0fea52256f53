"""Unit tests of the topic specifications (no broker needed)."""

from __future__ import annotations

from sems.settings import Settings
from sems.stores.kafka import topic_specs


def test_specs_follow_settings() -> None:
    settings = Settings(kafka_readings_partitions=24, kafka_readings_retention_ms=1000, kafka_dlq_partitions=2)
    specs = {spec.name: spec for spec in topic_specs(settings)}
    readings = specs[settings.kafka_readings_topic]
    assert (readings.partitions, readings.configs["retention.ms"]) == (24, "1000")
    assert specs[settings.kafka_readings_dlq_topic].partitions == 2
    assert set(specs) == {settings.kafka_readings_topic, settings.kafka_readings_dlq_topic,
                          settings.kafka_questdb_dlq_topic, settings.kafka_forecasts_buffer_topic}


def test_dlqs_keep_longer_than_the_readings_topic() -> None:
    settings = Settings()
    specs = {spec.name: spec for spec in topic_specs(settings)}
    readings_ms = int(specs[settings.kafka_readings_topic].configs["retention.ms"])
    assert int(specs[settings.kafka_readings_dlq_topic].configs["retention.ms"]) > readings_ms
    assert int(specs[settings.kafka_questdb_dlq_topic].configs["retention.ms"]) > readings_ms
