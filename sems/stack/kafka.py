"""Apache Kafka in KRaft mode: one combined broker+controller node, run from Maven Central jars.

The broker POM does not bring a Log4j2 runtime, so the SLF4J 1.x binding and log4j-core
are resolved beside it, and the broker logs to stdout (our log file) through a config of
our own. Storage is formatted once; the topics are created after start by
`sems.stores.kafka.ensure_topics`.
"""

from __future__ import annotations

from pathlib import Path

from kafka.errors import KafkaError

from sems.settings import Settings
from sems.stack import installers
from sems.stack.health import tcp_open
from sems.stack.service import Service, StackError, config_dir, data_dir
from sems.stores import kafka as kafka_store

NAME = "kafka"

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d{ISO8601}] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <!-- Per-request and state-change chatter would drown the log of a busy local broker. -->
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
  </Loggers>
</Configuration>
"""


def _jars(settings: Settings) -> Path:
    log4j = settings.kafka_log4j_version
    return installers.maven_jars(settings, f"kafka-{settings.kafka_version}", [
        f"org.apache.kafka:kafka_2.13:{settings.kafka_version}",
        f"org.apache.logging.log4j:log4j-api:{log4j}",
        f"org.apache.logging.log4j:log4j-core:{log4j}",
        # Kafka 4.1 depends on slf4j-api 1.7, so the SLF4J 1.x binding (not slf4j2-impl) is the one that binds.
        f"org.apache.logging.log4j:log4j-slf4j-impl:{log4j}",
    ])


def server_properties(settings: Settings) -> str:
    """The broker config: one KRaft node, replication factors 1, no topic auto-creation."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{settings.host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{settings.host}:{settings.kafka_port},"
                     f"CONTROLLER://{settings.host}:{settings.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{settings.host}:{settings.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir(settings, NAME) / "logs"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "12",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
        # A single local node: no need to wait for group members that will never come.
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _paths(settings: Settings) -> tuple[Path, Path]:
    conf = config_dir(settings, NAME)
    return conf / "server.properties", conf / "log4j2.xml"


def java_command(settings: Settings, main_class: str, *args: str) -> list[str]:
    """argv running `main_class` on the Kafka classpath with our heap limits and log config."""
    _, log_config = _paths(settings)
    return [
        installers.java_bin(),
        "-Xms256m", f"-Xmx{settings.kafka_heap_max_mb}m",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp", f"{_jars(settings)}/*",
        main_class, *args,
    ]


def install(settings: Settings) -> None:
    installers.java_home()
    _jars(settings)


def prepare(settings: Settings) -> None:
    """Write the configs and format the storage directory the first time."""
    props, log_config = _paths(settings)
    props.write_text(server_properties(settings), encoding="utf-8")
    log_config.write_text(LOG4J2_XML, encoding="utf-8")
    if (data_dir(settings, NAME) / "logs" / "meta.properties").exists():
        return
    installers.run_tool(
        java_command(settings, "kafka.tools.StorageTool", "format", "--standalone",
                     "-t", settings.kafka_cluster_id, "-c", str(props)),
        "formatting Kafka storage",
    )


def command(settings: Settings) -> list[str]:
    props, _ = _paths(settings)
    return java_command(settings, "kafka.Kafka", str(props))


def healthy(settings: Settings) -> bool:
    """The broker accepts connections and answers a metadata request within ~2 s."""
    if not tcp_open(settings.host, settings.kafka_port, timeout_s=0.5):
        return False
    return kafka_store.broker_answers(settings, timeout_s=1.5)


def after_start(settings: Settings) -> None:
    try:
        kafka_store.ensure_topics(settings)
    except KafkaError as exc:
        raise StackError(f"creating the Kafka topics failed: {exc!r}") from exc


SERVICE = Service(
    name=NAME,
    port_setting="kafka_port",
    extra_port_settings=("kafka_controller_port",),
    command=command,
    healthy=healthy,
    url=lambda s: s.kafka_bootstrap,
    install=install,
    prepare=prepare,
    after_start=after_start,
)
