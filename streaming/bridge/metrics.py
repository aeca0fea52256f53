"""Prometheus metrics of the bridge (names `sems_bridge_*`, N1)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter("sems_bridge_messages_received_total", "MQTT messages received")
STALE_MESSAGES = Counter(
    "sems_bridge_stale_messages_total", "Messages of a lost connection skipped (the broker redelivers them)"
)
READINGS_PUBLISHED = Counter("sems_bridge_readings_published_total", "Readings Kafka acknowledged")
RECORDS_PUBLISHED = Counter("sems_bridge_records_published_total", "Kafka records acknowledged", ["topic"])
READINGS_INVALID = Counter(
    "sems_bridge_invalid_total", "Messages or batch readings rejected to the DLQ, by reason code", ["reason"]
)
KAFKA_ERRORS = Counter("sems_bridge_kafka_errors_total", "Kafka sends that failed after the producer's retries")
MQTT_CONNECTED = Gauge("sems_bridge_mqtt_connected", "1 while connected to the MQTT broker")
KAFKA_REACHABLE = Gauge("sems_bridge_kafka_reachable", "1 while the Kafka broker answers")
INBOX = Gauge("sems_bridge_inbox_messages", "MQTT messages received but not yet taken by the main loop")
PENDING_ACKS = Gauge("sems_bridge_pending_acks", "MQTT messages waiting for Kafka before they are acknowledged")
READINGS_SPOOLED = Counter("sems_bridge_readings_spooled_total", "Readings written to the disk spool (Kafka away)")
RECORDS_DRAINED = Counter("sems_bridge_records_drained_total", "Spooled Kafka records sent on once Kafka was back")
SPOOL_BYTES = Gauge("sems_bridge_spool_bytes", "Bytes in the disk spool (compressed)")
BACKPRESSURE = Gauge(
    "sems_bridge_backpressure", "1 while the spool is above 80 %: MQTT messages are left unacknowledged"
)
PUBLISH_LATENCY = Histogram(
    "sems_bridge_publish_latency_seconds",
    "From MQTT receipt of a record's oldest message to Kafka's acknowledgement of the record (one per record)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TURN_MESSAGES = Histogram(
    "sems_bridge_turn_messages", "MQTT messages handled in one loop turn (one Kafka round trip)",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
