"""The job's HTTP side: Prometheus metrics and `/healthz` (200 when Kafka and QuestDB answer, else 503)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
CONSUMER_LAG = Gauge("sems_beam_consumer_lag_records", "Records of the readings topic not yet committed by the job")
LAST_COMMIT = Gauge("sems_beam_last_commit_timestamp_seconds", "When the job last committed offsets")


def healthy(settings: Settings) -> bool:
    """True if the Kafka broker and QuestDB both answer within the probe timeout."""
    if not kafka.broker_answers(settings, timeout_s=PROBE_TIMEOUT_S):
        return False
    try:
        questdb.query(settings, "SELECT 1", timeout_s=PROBE_TIMEOUT_S)
    except questdb.QuestDBError:
        return False
    return True


def serve(settings: Settings) -> ThreadingHTTPServer:
    """Start the metrics/health server on `beam_job_port` in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = healthy(settings)
                self._answer(200 if ok else 503, b"ok\n" if ok else b"kafka or questdb unreachable\n", "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet access log
            return

    server = ThreadingHTTPServer((settings.host, settings.beam_job_port), Handler)
    threading.Thread(target=server.serve_forever, name="beam-job-http", daemon=True).start()
    return server
