"""Kafka stopped during ingestion (C4): the bridge's breaker opens, readings go to the disk spool, then to QuestDB."""

from __future__ import annotations

import httpx

from sems.settings import Settings
from sems.stack import controller, process
from sems.stack.service import run_dir
from tests.streaming.faults.conftest import Device, metric
from tests.support import wait_until


def test_kafka_outage_spools_to_disk_and_loses_nothing(settings: Settings, device: Device, restore_stack: None) -> None:
    spooled_before = metric(settings, settings.bridge_port, "sems_bridge_readings_spooled_total")
    drained_before = metric(settings, settings.bridge_port, "sems_bridge_records_drained_total")
    job_before = _pid(settings, "beam-job")
    device.start()
    wait_until(lambda: len(device.acknowledged) >= 30, what="readings flowing before the outage")

    controller.down(settings, ["kafka"], report=lambda _: None)
    # The breaker opens after failed publish cycles; from then on readings are spooled (and acknowledged).
    wait_until(
        lambda: metric(settings, settings.bridge_port, "sems_bridge_readings_spooled_total") >= spooled_before + 150,
        timeout_s=90,
        what="readings spooled while Kafka is down",
    )
    assert 'breaker="bridge-kafka"} 2.0' in _metrics_text(settings)  # open
    ready = _readyz(settings)
    assert ready[0] == 503 and "kafka" in ready[1]

    controller.up(settings, ["kafka"], report=lambda _: None)
    wait_until(
        lambda: metric(settings, settings.bridge_port, "sems_bridge_spool_bytes") == 0
        and metric(settings, settings.bridge_port, "sems_bridge_records_drained_total") > drained_before,
        timeout_s=120,
        what="the spool drained to Kafka",
    )
    device.stop()
    device.assert_exactly_once()
    wait_until(lambda: _readyz(settings)[0] == 200, timeout_s=60, what="the bridge ready again")
    assert _pid(settings, "beam-job") == job_before, "the Beam job exited during the outage instead of waiting"


def _pid(settings: Settings, name: str) -> int:
    record = process.read_record(run_dir(settings), name)
    assert record is not None and record.alive(), f"{name} is not running"
    return record.pid


def _metrics_text(settings: Settings) -> str:
    return httpx.get(f"http://{settings.host}:{settings.bridge_port}/metrics", timeout=5).text


def _readyz(settings: Settings) -> tuple[int, str]:
    response = httpx.get(f"http://{settings.host}:{settings.bridge_port}/readyz", timeout=5)
    return response.status_code, response.json()["reason"]
