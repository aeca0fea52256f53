"""The one settings object: every host, port, path, credential and tunable of SEMS.

Values come from `SEMS_*` environment variables (or a `.env` file); nothing else in
the code base reads the environment. `SEMS_PORT_OFFSET` shifts every port at once so a
test stack can run beside the development stack.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    """Configuration of one SEMS deployment (a local stack, the test stack, production)."""

    model_config = SettingsConfigDict(env_prefix="SEMS_", env_file=".env", extra="ignore")

    env: Environment = "development"
    host: str = "127.0.0.1"
    state_dir: Path = Path(".sems")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "sems")
    port_offset: int = 0
    log_level: str = "INFO"

    # Kafka (KRaft, one node locally)
    kafka_version: str = "4.1.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_cluster_id: str = "c2Vtcy1sb2NhbC1rYWZrYQ"
    kafka_readings_topic: str = "sensor-readings"
    kafka_readings_partitions: int = 12
    kafka_readings_retention_ms: int = 14 * 24 * 3600 * 1000
    kafka_readings_dlq_topic: str = "sensor-readings.dlq"
    kafka_questdb_dlq_topic: str = "questdb-write.dlq"
    kafka_timeout_s: float = 10.0
    kafka_dlq_partitions: int = 3
    kafka_dlq_retention_ms: int = 30 * 24 * 3600 * 1000
    kafka_log4j_version: str = "2.25.2"
    kafka_heap_max_mb: int = 1024

    # QuestDB
    questdb_version: str = "9.2.0"
    questdb_http_port: int = 9000
    questdb_pg_port: int = 8812
    questdb_ilp_port: int = 9009
    questdb_health_port: int = 9003
    questdb_timeout_s: float = 10.0
    questdb_heap_max_mb: int = 1024
    questdb_readings_ttl_days: int = 90
    questdb_rollups_ttl_days: int = 1095

    # PostgreSQL (control plane)
    postgres_port: int = 5433
    postgres_user: str = "sems"
    postgres_password: SecretStr = SecretStr("sems-dev-password")
    postgres_db: str = "sems"
    postgres_timeout_s: float = 5.0
    postgres_statement_timeout_s: float = 30.0  # server-side cap on any one statement of our clients

    # Redis
    redis_port: int = 6380
    redis_timeout_s: float = 2.0
    redis_maxmemory_mb: int = 256

    # Mosquitto (MQTT)
    mqtt_port: int = 1884
    mqtt_bridge_user: str = "sems-bridge"
    mqtt_bridge_password: SecretStr = SecretStr("sems-bridge-dev-password")
    mqtt_device_password: SecretStr = SecretStr("sems-device-dev-password")
    mqtt_topic_prefix: str = "sems/v1"
    mqtt_timeout_s: float = 5.0
    # Per-client queue while a subscriber (the bridge) is away or not acknowledging. Bounded so a stalled client cannot
    # exhaust the broker's memory; 1M is minutes at the benchmark's peak rate, days at the demo fleet's.
    mqtt_max_queued_messages: int = 1_000_000
    mqtt_max_inflight_messages: int = 1000
    # Above the bridge's payload limit, so oversize payloads still reach the bridge (and its DLQ with a reason).
    mqtt_max_packet_bytes: int = 4 * 1024 * 1024

    # Orchestration and ML
    dagster_port: int = 3000
    mlflow_port: int = 5000

    # Apps
    api_port: int = 8080
    streamlit_port: int = 8501
    bridge_port: int = 8071
    beam_job_port: int = 8072
    simulator_port: int = 8073

    # MQTT -> Kafka bridge (the edge: validation bounds of the MQTT contract live here too)
    bridge_client_id: str = "sems-bridge"
    bridge_session_expiry_s: int = 7 * 24 * 3600  # how long Mosquitto queues QoS 1 messages while the bridge is away
    bridge_receive_maximum: int = 1000  # MQTT 5 unacknowledged messages the broker may have in flight to the bridge
    bridge_linger_ms: int = 5  # single readings of one facility are merged into one Kafka record for this long
    bridge_max_payload_bytes: int = 1024 * 1024
    bridge_max_batch_readings: int = 10_000
    reading_kw_min: float = -1.0e4  # negative: on-site generation exporting
    reading_kw_max: float = 1.0e5
    reading_max_future_s: float = 3600.0
    reading_max_age_s: float = 30 * 24 * 3600.0

    # Beam streaming job
    beam_version: str = "2.77.0"
    beam_batch_max_records: int = 5000
    beam_poll_timeout_ms: int = 1000
    beam_consumer_group: str = "sems-beam-job"
    beam_allowed_lateness_s: int = 600
    beam_retry_max_backoff_s: float = 30.0

    # Simulator (the field)
    simulator_facilities: int = 5
    simulator_meters: int = 4
    simulator_interval_s: float = 15.0

    # Forecasting
    forecast_horizon_hours: int = 24
    forecast_step_minutes: int = 15

    # Analyst UI (Streamlit)
    ui_refresh_s: float = 15.0  # live tiles rerun this often
    ui_stale_after_s: float = 45.0  # newest reading older than this: stale banner (S1)
    ui_live_hours: int = 6  # how much recent load the live page charts

    # Stack control
    stack_start_timeout_s: float = 180.0
    stack_stop_timeout_s: float = 30.0

    @model_validator(mode="after")
    def _apply_port_offset(self) -> Settings:
        """Shift every `*_port` by `port_offset` (once), so stacks never collide."""
        if self.port_offset:
            for name in type(self).model_fields:
                if name.endswith("_port"):
                    object.__setattr__(self, name, getattr(self, name) + self.port_offset)
            object.__setattr__(self, "port_offset", 0)
        return self

    @property
    def state(self) -> Path:
        """Absolute state directory (pids, logs, data) of this stack."""
        return self.state_dir.resolve()

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def questdb_http_url(self) -> str:
        return f"http://{self.host}:{self.questdb_http_port}"

    @property
    def questdb_ilp_conf(self) -> str:
        return f"http::addr={self.host}:{self.questdb_http_port};"

    @property
    def postgres_url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of the control-plane database."""
        pw = self.postgres_password.get_secret_value()
        return f"postgresql+psycopg://{self.postgres_user}:{pw}@{self.host}:{self.postgres_port}/{self.postgres_db}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
