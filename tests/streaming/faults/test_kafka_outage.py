"""Kafka stopped during ingestion (C4): the bridge's breaker opens, readings go to the disk spool, then to QuestDB."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime

import httpx

from sems.settings import Settings
from sems.stack import controller, process
from sems.stack.service import log_path, run_dir
from tests.streaming.faults.conftest import Device, metric
from tests.support import wait_until


def test_kafka_outage_spools_to_disk_and_loses_nothing(settings: Settings, device: Device, restore_stack: None) -> None:
    spooled_before = metric(settings, settings.bridge_port, "sems_bridge_readings_spooled_total")
    drained_before = metric(settings, settings.bridge_port, "sems_bridge_records_drained_total")
    job_before = _pid(settings, "beam-job")
    errors_before = metric(settings, settings.bridge_port, "sems_bridge_kafka_errors_total")
    log_from = log_path(settings, "bridge").stat().st_size
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
    # Kafka stays down until a half-open probe has failed too: those must not log warnings.
    wait_until(
        lambda: metric(settings, settings.bridge_port, "sems_bridge_kafka_errors_total")
        > errors_before + settings.bridge_breaker_failures,
        timeout_s=90,
        what="a failed probe of the open breaker",
    )
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
    _assert_the_outage_logged_quietly(_log_lines(settings, log_from))


def _assert_the_outage_logged_quietly(lines: list[dict[str, str]]) -> None:
    """The breaker says once that Kafka went and once that it came back, and the sink's failed probes in
    between say nothing; kafka-python's reconnect errors (twice a second unthrottled) show each kind at
    most once per 30 s."""
    edges = [n for n, line in enumerate(lines) if line["logger"] == "sems.resilience" and "bridge-kafka" in line["msg"]]
    assert [lines[n]["msg"].split(" after ")[0] for n in edges] == [
        "circuit bridge-kafka open", "circuit bridge-kafka closed"
    ], [lines[n]["msg"] for n in edges]
    assert re.fullmatch(r"circuit bridge-kafka closed after \d+\.\d s open", lines[edges[1]]["msg"])
    while_open = [line for line in lines[edges[0] : edges[1]] if line["logger"] == "streaming.bridge.kafka_sink"]
    assert not [line for line in while_open if line["level"] == "warning"], while_open
    shown_at: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for line in lines:
        if line["logger"].startswith("kafka"):
            # The filter keys on the message template; masking the numbers recovers it (or a finer kind).
            message = re.sub(r" \(\d+ more like this held back since the last one shown\)$", "", line["msg"])
            kind = re.sub(r"\d+", "N", message)
            shown_at[(line["logger"], line["level"], kind)].append(datetime.fromisoformat(line["ts"][:-1]))
    assert shown_at, "kafka-python logged nothing about a broker that was down"
    for kind, times in shown_at.items():
        gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
        assert all(gap >= 29.9 for gap in gaps), (kind, gaps)


def _log_lines(settings: Settings, offset: int) -> list[dict[str, str]]:
    with open(log_path(settings, "bridge"), "rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", errors="replace")
    lines = []
    for raw in text.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # a line from a library that writes to stderr directly
    return lines


def _pid(settings: Settings, name: str) -> int:
    record = process.read_record(run_dir(settings), name)
    assert record is not None and record.alive(), f"{name} is not running"
    return record.pid


def _metrics_text(settings: Settings) -> str:
    return httpx.get(f"http://{settings.host}:{settings.bridge_port}/metrics", timeout=5).text


def _readyz(settings: Settings) -> tuple[int, str]:
    response = httpx.get(f"http://{settings.host}:{settings.bridge_port}/readyz", timeout=5)
    return response.status_code, response.json()["reason"]
