"""The QuestDB service of the stack: own ports on our host, telemetry off, health, metrics."""

from __future__ import annotations

import time

import httpx
import pytest

from sems.settings import Settings
from sems.stack import controller, questdb
from sems.stack.health import tcp_open
from sems.stores.questdb import query


def test_every_listener_binds_to_our_host_and_ports() -> None:
    settings = Settings(port_offset=100, host="127.0.0.1")
    env = questdb.env(settings)
    assert env["QDB_HTTP_BIND_TO"] == "127.0.0.1:9100"
    assert env["QDB_PG_NET_BIND_TO"] == "127.0.0.1:8912"
    assert env["QDB_LINE_TCP_NET_BIND_TO"] == "127.0.0.1:9109"
    assert env["QDB_HTTP_MIN_NET_BIND_TO"] == "127.0.0.1:9103"


def test_runs_as_a_module_from_the_questdb_jar(settings: Settings) -> None:
    argv = questdb.command(settings)
    assert argv[argv.index("-m") + 1] == "io.questdb/io.questdb.ServerMain"
    assert argv[argv.index("-p") + 1].endswith(f"questdb-{settings.questdb_version}.jar")
    assert argv[argv.index("-d") + 1].startswith(str(settings.state))


def test_server_is_healthy_and_answers_fast(settings: Settings) -> None:
    started = time.monotonic()
    assert questdb.SERVICE.healthy(settings)
    assert time.monotonic() - started < 2.0
    [row] = controller.status(settings, ["questdb"])
    assert row.healthy and row.pid is not None
    assert tcp_open(settings.host, settings.questdb_pg_port) and tcp_open(settings.host, settings.questdb_ilp_port)


def test_telemetry_is_off(settings: Settings) -> None:
    assert [row["enabled"] for row in query(settings, "SELECT enabled FROM telemetry_config")] == [False]


def test_prometheus_metrics_on_the_health_port(settings: Settings) -> None:
    response = httpx.get(f"http://{settings.host}:{settings.questdb_health_port}/metrics", timeout=5.0)
    assert response.status_code == 200 and "questdb_" in response.text


def test_idle_workers_park_early_unless_the_environment_says_otherwise(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = query(settings, "SELECT property_path, value, value_source FROM (SHOW PARAMETERS)"
                           " WHERE property_path LIKE 'shared.worker.%.threshold'")
    in_force = {row["property_path"]: (row["value"], row["value_source"]) for row in rows}
    assert in_force == {"shared.worker.yield.threshold": ("10", "env"), "shared.worker.nap.threshold": ("50", "env"),
                        "shared.worker.sleep.threshold": ("100", "env")}
    monkeypatch.setenv("QDB_SHARED_WORKER_NAP_THRESHOLD", "7000")
    assert questdb.env(settings)["QDB_SHARED_WORKER_NAP_THRESHOLD"] == "7000"
