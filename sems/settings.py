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
    # Producer batch per partition. kafka-python's 16 KiB default made each ~14 KiB gateway record a batch of its
    # own, and every new batch wakes the sender thread: ~16 sender loops and 6.8 ms of its CPU per bridge turn of
    # 23 records, against 4 loops and 1.7 ms at 512 KiB. Below the broker's 1 MiB message.max.bytes.
    kafka_producer_batch_bytes: int = 512 * 1024
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
    # Disk watchdog (C3, in the Beam job): above alert, halve the raw TTL (not below the minimum) and alert.
    questdb_data_dir: Path | None = None  # the filesystem measured; default: the stack's QuestDB data dir
    questdb_disk_alert_ratio: float = 0.85
    questdb_disk_clear_ratio: float = 0.75  # below this the configured raw TTL comes back
    questdb_readings_min_ttl_days: int = 7  # longer than the daily archive's lag, so only archived days go
    questdb_disk_check_s: float = 60.0

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
    mqtt_max_inflight_messages: int = 5000
    # Above the bridge's payload limit, so oversize payloads still reach the bridge (and its DLQ with a reason).
    mqtt_max_packet_bytes: int = 4 * 1024 * 1024

    # Orchestration and ML
    dagster_port: int = 3000
    # Long-lived gRPC code servers, one per code location (see sems/stack/dagster.py).
    dagster_code_port: int = 3030
    dagster_dr_code_port: int = 3031
    # Dagster's gRPC calls to its code server default to 60 s; on two busy cores a code-server reload can take
    # longer, and the daemon then reports the user code unreachable (seen under load in the DR live test).
    dagster_grpc_timeout_s: int = 180
    mlflow_port: int = 5000

    # Apps
    api_port: int = 8080
    api_workers: int = Field(default=1, ge=1)  # uvicorn worker processes of the API service (webhook intake p99)
    streamlit_port: int = 8501
    bridge_port: int = 8071
    beam_job_port: int = 8072
    simulator_port: int = 8073

    # MQTT -> Kafka bridge (the edge: validation bounds of the MQTT contract live here too)
    bridge_client_id: str = "sems-bridge"
    bridge_session_expiry_s: int = 7 * 24 * 3600  # how long Mosquitto queues QoS 1 messages while the bridge is away
    bridge_receive_maximum: int = 5000  # MQTT 5 unacknowledged messages the broker may have in flight to the bridge
    bridge_linger_ms: int = 5  # single readings of one facility are merged into one Kafka record for this long
    # MQTT messages one loop turn takes before it publishes and acks. Well below the receive maximum:
    # a turn waits for Kafka, and only the rest of the ack window keeps messages arriving meanwhile
    # (5000 = the whole window serialised receive and publish: 7.5k/s single mode, 1000: 11.6k/s).
    bridge_max_turn_messages: int = 1000
    bridge_max_turn_bytes: int = 4 * 1024**2  # ... or this much payload: one cycle = one spool frame, kept small
    bridge_max_payload_bytes: int = 1024 * 1024
    bridge_max_batch_readings: int = 10_000
    # Kafka outage (C4): a circuit breaker around the producer, a bounded durable disk spool behind it.
    bridge_publish_timeout_s: float = 5.0  # one cycle's records must be acknowledged by Kafka within this
    bridge_publish_min_bytes_per_s: float = 2 * 1024**2  # ... plus their size at this rate (large spool frames)
    bridge_breaker_failures: int = 2  # failed publish cycles in a row that open the breaker
    bridge_breaker_reset_s: float = 5.0  # open breaker: probe Kafka again (by draining the spool) after this
    bridge_spool_dir: Path | None = None  # default: <state>/bridge-spool
    bridge_spool_max_bytes: int = 2 * 1024**3  # compressed; above 80 % the bridge stops acknowledging MQTT
    bridge_spool_segment_bytes: int = 16 * 1024**2
    reading_kw_min: float = -1.0e4  # negative: on-site generation exporting
    reading_kw_max: float = 1.0e5
    reading_max_future_s: float = 3600.0
    reading_max_age_s: float = 30 * 24 * 3600.0

    # Beam streaming job
    beam_version: str = "2.77.0"
    beam_batch_max_records: int = 15000  # a run's Kafka records at most (gateway: ~3 M readings, ~9 s of a drain)
    beam_poll_timeout_ms: int = 1000
    # Runs start at most this often. A run costs the job ~1 CPU-s whatever its size (Beam's submission,
    # the rollup queries), so back-to-back runs of a few records each would take a core from the bridge.
    beam_min_run_interval_s: float = 2.0
    # ...except when this many records already wait: such a run pays its fixed cost back, and holding it
    # would only add to freshness. Then runs start at most every `beam_eager_run_interval_s`. (Gateway
    # 100,000 readings/s: ~800 records per 1.5 s; single-reading 15,000 messages/s: ~120.)
    beam_eager_run_records: int = 500
    beam_eager_run_interval_s: float = 1.5
    beam_consumer_group: str = "sems-beam-job"
    beam_allowed_lateness_s: int = 600
    beam_retry_max_backoff_s: float = 30.0
    beam_write_attempts: int = 4  # QuestDB write tries per bundle (sems.resilience.retry) before the run fails or DLQs
    beam_write_connections: int = 2  # concurrent ILP connections for a run's raw readings (chunks of 100,000 rows)

    # Simulator (the field)
    simulator_facilities: int = 5
    simulator_meters: int = 4
    simulator_interval_s: float = 15.0  # rate = facilities x meters / interval readings per second
    # Field imperfections (docs/simulator.md); all zero = clean readings, in order, on time, one per message.
    simulator_batch_readings: int = Field(default=1, ge=1)  # readings per MQTT message; > 1: gateway batches
    simulator_duplicate_rate: float = Field(default=0.0, ge=0, le=1)  # share of readings sent twice
    simulator_out_of_order_rate: float = Field(default=0.0, ge=0, le=1)  # share held back one round
    simulator_late_rate: float = Field(default=0.0, ge=0, le=1)  # share held back up to simulator_late_max_s
    simulator_late_max_s: float = Field(default=600.0, ge=0)
    simulator_malformed_rate: float = Field(default=0.0, ge=0, le=1)  # share of messages followed by a broken one
    simulator_clock_skew_max_s: float = Field(default=0.0, ge=0)  # each meter's clock is off by a fixed +-this at most
    simulator_seed: int | None = None  # fixes the random choices above (and the noise) for reproducible runs
    # Days of modelled history written to QuestDB's rollups at start when the demo fleet has none (0 in test).
    simulator_backfill_days: int = Field(default=60, ge=0)

    # Forecasting
    forecast_horizon_hours: int = 24
    forecast_step_minutes: int = 15
    forecast_stale_after_min: float = 30.0  # freshness check: newest forecast older than this alerts
    forecast_fallback_widening: float = 2.0  # fallback bands are this much wider than the baseline's own errors
    forecast_fallback_quality: float = 0.3  # data_quality_score of fallback rows (model rows: 1.0 minus penalties)
    kafka_forecasts_buffer_topic: str = "load-forecasts.buffer"  # forecasts PostgreSQL refused, replayed later (C1)
    forecast_buffer_group: str = "sems-forecast-replay"
    # Scoring yesterday's day-ahead forecasts against the meters (WARN check outside these limits).
    forecast_score_max_cv_rmse: float = 0.3
    forecast_score_max_abs_nmbe: float = 0.1
    forecast_score_coverage: tuple[float, float] = (0.6, 0.95)  # P10-P90 band: nominal 0.8
    forecast_replay_interval_s: int = 30  # the buffer-replay sensor's tick (C1)

    # Weather providers (C5): tried in this order; "replay" (pvlib TMY files) needs no network.
    weather_providers: list[str] = ["replay"]
    weatherapi_url: str = "https://api.weatherapi.com/v1"
    weatherapi_key: SecretStr = SecretStr("")
    open_meteo_url: str = "https://api.open-meteo.com"
    nws_url: str = "https://api.weather.gov"
    weather_timeout_s: float = 5.0
    weather_breaker_failures: int = 3
    weather_breaker_reset_s: float = 300.0
    weather_cache_max_age_h: float = 12.0  # an older cached forecast counts as no weather

    # Analyst UI (Streamlit)
    ui_refresh_s: float = 15.0  # live tiles rerun this often
    ui_stale_after_s: float = 45.0  # newest reading older than this: stale banner (S1)
    ui_live_hours: int = 6  # how much recent load the live page charts
    ui_fast_refresh_s: float = 5.0  # during an active DR event or when a facility is above ui_high_load_ratio (S1)
    ui_high_load_ratio: float = 0.8

    # Read API: JWT bearer tokens (N2) and the Redis cache (S4)
    # Production (Auth0): issuer "https://<tenant>.auth0.com/", jwks url "https://<tenant>.auth0.com/.well-known/jwks.json".
    # Empty jwks url: the development issuer, whose key pair lives under the state dir and whose JWKS the API serves.
    auth_issuer: str = "sems-dev-issuer"
    auth_audience: str = "sems-api"
    auth_jwks_url: str = ""
    auth_algorithms: tuple[str, ...] = ("RS256",)
    auth_leeway_s: float = 10.0  # clock skew tolerated on exp/nbf
    auth_jwks_timeout_s: float = 5.0
    auth_jwks_cache_s: int = 300
    api_cache_ttl_min_s: float = 8.0  # fresh for a jittered 8-12 s, so entries never expire together
    api_cache_ttl_max_s: float = 12.0
    # A hit past this fraction of its freshness is reloaded in the background (refresh-ahead): no request waits.
    api_cache_refresh_ahead: float = 0.75
    api_cache_stale_s: float = 60.0  # served past freshness only while the database cannot answer
    api_cache_lock_s: float = 5.0  # single-flight lock lifetime (a crashed holder frees it after this)
    api_breaker_failures: int = 3
    api_breaker_reset_s: float = 10.0

    # Demand response: webhook intake, saga, BMS (SOAP), notifications, utility reports
    # Per-utility Standard Webhooks secrets ("whsec_" + base64), e.g. SEMS_DR_WEBHOOK_SECRETS='{"util-a": "whsec_..."}'.
    dr_webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=lambda: {"demo-utility": SecretStr("whsec_c2Vtcy1kZXYtZHItd2ViaG9vay1zZWNyZXQ=")}
    )
    dr_webhook_tolerance_s: int = 300  # signed timestamps outside +/- this window are refused
    dr_utility_callbacks: dict[str, str] = Field(default_factory=dict)  # utility -> report URL (OpenADR 3 reports)
    dr_dispatch_lead_s: float = 120.0  # dispatch this long before an event starts
    dr_manager_email_template: str = "manager+{facility_id}@sems.local"  # when a facility has no manager_email
    dr_webhook_max_bytes: int = 256 * 1024
    # Below the daemon's 5 s sensor loop on purpose: with 5 the loop and the interval alias, and ticks come 10 s apart.
    dr_sensor_interval_s: int = 1
    dr_forecast_stale_after_s: float = 1800.0  # older forecasts: plan conservatively (M4)
    dr_conservative_factor: float = 0.5  # share of the P10-based sheddable load promised when stale/fallback
    dr_reconciliation_tolerance: float = 0.10
    dr_callback_timeout_s: float = 10.0
    # The baseline the report gives the utility (docs/demand-response.md: why high 5 of 10); forecast_p50 is the
    # fallback when a facility has fewer than 5 like days of meter data.
    dr_report_baseline: Literal["high_five_of_ten", "ten_of_ten", "forecast_p50"] = "high_five_of_ten"
    dr_outbox_interval_s: int = 30  # the outbox sensor's tick
    dr_outbox_grace_s: float = 60.0  # the sensor leaves a new report to the release run that queued it this long
    dr_outbox_backoff_s: float = 30.0  # first retry delay of an unacknowledged report, doubled per attempt
    dr_outbox_backoff_max_s: float = 3600.0
    dr_reconciliation_days: int = 7  # the daily reconciliation re-checks events that ended this many days back
    bms_port: int = 8074  # the SOAP BMS simulator (one endpoint per facility: /bms/<facility_id>)
    bms_url_template: str = ""  # production BMS address per facility; empty = the local simulator
    bms_facilities: int = 0  # facilities the simulator serves; 0 = simulator_facilities
    bms_connect_timeout_s: float = 10.0
    bms_read_timeout_s: float = 20.0
    bms_retries: int = 2
    bms_retry_delay_s: float = 5.0
    bms_breaker_timeouts: int = 3
    bms_breaker_reset_s: float = 300.0
    bms_facility_concurrency: int = 2  # bulkhead: concurrent commands per facility
    bms_max_parallel_facilities: int = 64
    smtp_host: str = ""  # empty = settings.host
    smtp_port: int = 8025
    smtp_sender: str = "sems-dr@localhost"
    smtp_timeout_s: float = 10.0

    # Archive (Parquet history, S5/M5): a local directory by default, `s3://bucket/prefix` when configured
    archive_root: str = ""  # empty: <state_dir>/archive
    archive_slice_rows: int = 1_000_000  # export streams the day in time slices of about this many rows
    archive_row_group_rows: int = 500_000
    archive_check_batch_rows: int = 2_000_000  # rows per Great Expectations batch (pandas; bounded memory)
    archive_kw_headroom: float = 1.5  # plausible max kW of a meter: facility contract demand x this
    archive_completeness_min: float = 0.99
    archive_reading_interval_s: float = 15.0  # expected readings per meter per day = 86400 / this
    archive_timeout_s: float = 120.0  # one time-slice export request
    s3_port: int = 9190  # local S3-compatible server (moto)
    s3_bucket: str = "sems-archive"
    s3_access_key: str = "sems-local"
    s3_secret_key: SecretStr = SecretStr("sems-local-secret")
    s3_endpoint_url: str = ""  # empty: the local server of the stack
    s3_timeout_s: float = 10.0  # connect timeout; reads may take up to archive_timeout_s

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

    @model_validator(mode="after")
    def _no_backfill_in_test(self) -> Settings:
        """The test stack starts without history (tests that need it set SEMS_SIMULATOR_BACKFILL_DAYS)."""
        if self.env == "test" and "simulator_backfill_days" not in self.model_fields_set:
            object.__setattr__(self, "simulator_backfill_days", 0)
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
    def archive_url(self) -> str:
        """Where archived partitions live: a local directory or an `s3://` URL."""
        return self.archive_root or str(self.state / "archive")

    @property
    def s3_url(self) -> str:
        return self.s3_endpoint_url or f"http://{self.host}:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
