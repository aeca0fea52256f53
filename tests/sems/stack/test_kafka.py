"""The Kafka service of the stack: config, storage formatted once, logging through our Log4j2 config, health."""

from __future__ import annotations

import time

from sems.settings import Settings
from sems.stack import controller, kafka
from sems.stack.service import data_dir, log_path


def _props(settings: Settings) -> dict[str, str]:
    lines = kafka.server_properties(settings).splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_properties_make_one_kraft_node_on_our_ports() -> None:
    settings = Settings(port_offset=100, host="127.0.0.1")
    props = _props(settings)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == props["min.insync.replicas"] == "1"


def test_properties_keep_data_under_the_state_dir(settings: Settings) -> None:
    assert _props(settings)["log.dirs"].startswith(str(settings.state))


def test_broker_is_healthy_and_answers_fast(settings: Settings) -> None:
    started = time.monotonic()
    assert kafka.SERVICE.healthy(settings)
    assert time.monotonic() - started < 2.0
    [row] = controller.status(settings, ["kafka"])
    assert row.healthy and row.pid is not None and row.port == settings.kafka_port


def test_storage_is_formatted_once_with_our_cluster_id(settings: Settings) -> None:
    meta = data_dir(settings, "kafka") / "logs" / "meta.properties"
    assert f"cluster.id={settings.kafka_cluster_id}" in meta.read_text(encoding="utf-8")
    before = meta.stat().st_mtime_ns
    kafka.prepare(settings)  # what every `up` runs: must not format again
    assert meta.stat().st_mtime_ns == before


def test_broker_logs_through_our_log4j2_config(settings: Settings) -> None:
    log = log_path(settings, "kafka").read_text(encoding="utf-8", errors="replace")
    assert "(kafka.server.BrokerServer)" in log  # our PatternLayout: "... message (logger)"
    # The SLF4J binding must be found, or Kafka logs nothing at all.
    assert "SLF4J: Failed to load class" not in log and "No SLF4J providers" not in log
