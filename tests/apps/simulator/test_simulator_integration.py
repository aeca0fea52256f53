"""The running simulator (whole test stack up): every demo facility's meters reach Kafka through the bridge."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from sems.facilities import demo_fleet
from sems.settings import Settings
from streaming.beam.records import record_rows
from tests.support import TopicTail, wait_until


def test_simulator_is_healthy_and_counts_what_the_broker_acknowledged(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.simulator_port}"
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    for facility in fleet:
        assert f'sems_simulator_connected{{facility_id="{facility.facility_id}"}} 1.0' in metrics
        assert f'sems_simulator_readings_published_total{{facility_id="{facility.facility_id}"}}' in metrics


def test_every_demo_meter_reading_reaches_kafka(settings: Settings, tail: Callable[[str], TopicTail]) -> None:
    readings = tail(settings.kafka_readings_topic)
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    expected = {(f.facility_id, m) for f in fleet for m in f.meter_ids}
    started_ms = int(time.time() * 1000)

    def meters_seen() -> set[tuple[str, str]]:
        seen = set()
        for record in readings.matching(lambda r: True):
            body = json.loads(record.value)
            for reading in record_rows(record.value):
                if reading["ts_ms"] >= started_ms - 1000 and reading["seq"] and reading["kwh"]:
                    seen.add((body["facility_id"], reading["meter_id"]))
        return seen

    wait_until(
        lambda: expected <= meters_seen(),
        timeout_s=2 * settings.simulator_interval_s + 15,
        what="a fresh reading of every demo meter",
    )
