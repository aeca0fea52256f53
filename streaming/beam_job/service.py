"""The job's HTTP side: Prometheus metrics and `/healthz` (200 when Kafka and QuestDB answer, else 503)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from sems import endpoints
from sems.settings import Settings
from sems.stores import kafka, questdb

PROBE_TIMEOUT_S = 2.0

RECORDS = Counter("sems_beam_records_consumed_total", "Kafka records read by the Beam job")
READINGS = Counter("sems_beam_readings_written_total", "Readings written to QuestDB readings")
PARSE_FAILURES = Counter("sems_beam_parse_failures_total", "Kafka records sent to the readings DLQ")
FACILITY_MINUTES = Counter("sems_beam_facility_minutes_written_total", "Rows upserted into facility_load_1m")
BATCH_FAILURES = Counter("sems_beam_batch_failures_total", "Bounded runs that failed (retried, not committed)")
BATCH_SECONDS = Histogram(
    "sems_beam_batch_duration_seconds",
    "Duration of one bounded run including commit",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
ROLLUP_ROWS = Counter("sems_beam_rollup_rows_written_total", "Rows upserted into facility_load_15m and _1h")
# Facility-minutes recomputed from `readings` (a repeat, a correction, a replay, an old minute) instead of added to.
RESCANNED = Counter("sems_beam_meter_minutes_rescanned_total", "Facility-minutes recomputed from raw readings")
# Alert on any increase: QuestDB refused rows while it was up (they are in questdb-write.dlq, not in QuestDB).
QUESTDB_DLQ_ROWS = Counter("sems_beam_questdb_dlq_rows_total", "Rows QuestDB refused, sent to the QuestDB DLQ")
QUESTDB_DOWN = Gauge("sems_beam_questdb_down", "1 while the job waits for QuestDB and pulls nothing from Kafka")
KAFKA_ERRORS = Counter("sems_beam_kafka_errors_total", "Planning turns that could not reach Kafka (retried)")
CONSUMER_LAG = Gauge("sems_beam_consumer_lag_records", "Records of the readings topic not yet committed by the job")
LAST_COMMIT = Gauge("sems_beam_last_commit_timestamp_seconds", "When the job last committed offsets")


def health(settings: Settings) -> tuple[bool, str]:
    """(True, "ok") if the Kafka broker and QuestDB both answer within the probe timeout, else the reason."""
    if not kafka.broker_answers(settings, timeout_s=PROBE_TIMEOUT_S):
        return False, "kafka unreachable"
    try:
        questdb.query(settings, "SELECT 1", timeout_s=PROBE_TIMEOUT_S)
    except questdb.QuestDBError as exc:
        return False, f"questdb unreachable: {exc}"
    return True, "ok"


def serve(settings: Settings) -> endpoints.Endpoints:
    """Start `/healthz` and `/metrics` on `beam_job_port` (the shared endpoint server)."""
    return endpoints.serve(settings.host, settings.beam_job_port, lambda: health(settings))
