"""QuestDB: the time-series store, run from the `org.questdb:questdb` jar (native libraries inside).

Configured through `QDB_*` environment variables (any server.conf key works that way),
so the generated `<root>/conf/server.conf` stays QuestDB's default. Telemetry is off and
every listener binds to `settings.host` on the stack's (offset) ports. Tables are created
after start by `sems.stores.questdb.ensure_schema`.

Its idle worker threads park sooner than QuestDB's defaults (`IDLE_WORKERS`): on two cores
shared with Kafka, Mosquitto, the bridge and the Beam job, six pool threads spinning and
yielding through thousands of empty polls before they nap took CPU the ingest needed.
Measured in single-reading mode at 15,000 messages/s (docs/benchmarks.md, session 10):
QuestDB's CPU 36.8 s -> 20.4-23.4 s for the same 900k readings, the peer's 5.8 -> 4.3 s.
A `QDB_*` variable in the environment still wins, as for every other key.
"""

from __future__ import annotations

import os
from pathlib import Path

from sems.settings import Settings
from sems.stack import installers
from sems.stack.health import http_ok
from sems.stack.service import Service, StackError, data_dir
from sems.stores import questdb as questdb_store

NAME = "questdb"


def _jar(settings: Settings) -> Path:
    version = settings.questdb_version
    jars = installers.maven_jars(settings, f"questdb-{version}", [f"org.questdb:questdb:{version}"])
    return jars / f"questdb-{version}.jar"


def install(settings: Settings) -> None:
    installers.java_home()
    _jar(settings)


# server.conf keys as QDB_* variables: idle iterations before a worker yields, naps, sleeps.
IDLE_WORKERS = {
    "QDB_SHARED_WORKER_YIELD_THRESHOLD": "10",
    "QDB_SHARED_WORKER_NAP_THRESHOLD": "50",  # default 7000
    "QDB_SHARED_WORKER_SLEEP_THRESHOLD": "100",  # default 10000
}


def env(settings: Settings) -> dict[str, str]:
    host = settings.host
    tuned = {key: os.environ.get(key, value) for key, value in IDLE_WORKERS.items()}
    return {
        **tuned,
        "QDB_HTTP_BIND_TO": f"{host}:{settings.questdb_http_port}",
        "QDB_HTTP_MIN_NET_BIND_TO": f"{host}:{settings.questdb_health_port}",
        "QDB_PG_NET_BIND_TO": f"{host}:{settings.questdb_pg_port}",
        "QDB_LINE_TCP_NET_BIND_TO": f"{host}:{settings.questdb_ilp_port}",
        "QDB_LINE_UDP_ENABLED": "false",
        "QDB_TELEMETRY_ENABLED": "false",
        # Prometheus metrics on the health port (/metrics), like every other SEMS service.
        "QDB_METRICS_ENABLED": "true",
    }


def command(settings: Settings) -> list[str]:
    """The same JVM invocation as QuestDB's own launcher (module path), with a modest heap."""
    root = data_dir(settings, NAME)
    return [
        installers.java_bin(),
        "-Xms256m", f"-Xmx{settings.questdb_heap_max_mb}m",
        "-XX:+UseParallelGC", f"-XX:ErrorFile={root}/hs_err_pid%p.log",
        "-p", str(_jar(settings)),
        "-m", "io.questdb/io.questdb.ServerMain",
        "-d", str(root),
    ]


def healthy(settings: Settings) -> bool:
    """The min health server says healthy and the SQL endpoint answers `SELECT 1`."""
    if not http_ok(f"http://{settings.host}:{settings.questdb_health_port}/"):
        return False
    try:
        return questdb_store.query(settings, "SELECT 1 AS ok", timeout_s=1.5) == [{"ok": 1}]
    except questdb_store.QuestDBError:
        return False


def after_start(settings: Settings) -> None:
    try:
        questdb_store.ensure_schema(settings)
    except questdb_store.QuestDBError as exc:
        raise StackError(f"creating the QuestDB schema failed: {exc}") from exc


SERVICE = Service(
    name=NAME,
    port_setting="questdb_http_port",
    extra_port_settings=("questdb_pg_port", "questdb_ilp_port", "questdb_health_port"),
    command=command,
    healthy=healthy,
    url=lambda s: s.questdb_http_url,
    install=install,
    env=env,
    after_start=after_start,
)
