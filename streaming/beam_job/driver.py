"""The driver loop: plan offset ranges, run one bounded Beam pipeline over them on Prism, commit, repeat.

Runs start at most every `beam_min_run_interval_s`, or every `beam_eager_run_interval_s` once
`beam_eager_run_records` wait (a run that big pays its fixed cost back). A failed run (QuestDB
down, Kafka unreadable) commits nothing: the driver retries the same ranges through
`sems.resilience.retry` (backoff up to `beam_retry_max_backoff_s`), and while QuestDB does not
answer it stops planning new ranges (it pulls nothing from Kafka) and only waits, so no reading
is lost and replays are harmless (DEDUP UPSERT KEYS). SIGTERM lets the current run finish and
commit, then the job exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from kafka.errors import KafkaError

from sems import logs
from sems.resilience import retry
from sems.settings import Settings, get_settings
from sems.stack import prism
from streaming.beam.kafka_io import OffsetRange
from streaming.beam.pipeline import RunCounts, run_batch
from streaming.beam.questdb_write import questdb_answers
from streaming.beam_job import service
from streaming.beam_job.disk_watchdog import DiskWatchdog
from streaming.beam_job.offsets import ConsumerOffsets

log = logging.getLogger("streaming.beam_job")
KAFKA_RETRY_S = 2.0  # between planning attempts while Kafka does not answer
RUN_ATTEMPTS = 5  # then wait for QuestDB (and Kafka) to answer before the next round of attempts


class Stopping(Exception):
    """SIGTERM arrived while backing off: give up on the ranges, commit nothing."""


class BeamJob:
    """One job instance: its consumer-group offsets, the Prism binary, and a stop flag set by SIGTERM."""

    def __init__(self, settings: Settings, prism_binary: Path) -> None:
        self.settings = settings
        self.prism = prism_binary
        self.offsets = ConsumerOffsets(settings)
        self.stopping = threading.Event()
        self.next_run_at = 0.0  # time.monotonic() before which no small run starts (`beam_min_run_interval_s`)
        self.eager_at = 0.0  # ... and no run at all (`beam_eager_run_interval_s`)

    def run(self) -> None:
        """Loop until stopped; each turn is one bounded run over new offsets."""
        while not self.stopping.is_set():
            if self.stopping.wait(max(0.0, self.eager_at - time.monotonic())):
                break
            try:
                ranges = self.offsets.plan(self.settings.beam_batch_max_records)
            except KafkaError as exc:  # Kafka away (C4): nothing was read, so wait and plan again; never exit
                service.KAFKA_ERRORS.inc()
                log.warning("cannot plan offsets, Kafka unreachable", extra={"fields": {"error": repr(exc)[:300]}})
                self.stopping.wait(KAFKA_RETRY_S)
                continue
            service.CONSUMER_LAG.set(self.offsets.lag)
            if not ranges:
                self.stopping.wait(self.settings.beam_poll_timeout_ms / 1000)
                continue
            if _size(ranges) < self.settings.beam_eager_run_records and time.monotonic() < self.next_run_at:
                # Small: its fixed cost would dominate. Wait out the interval, then plan what arrived meanwhile.
                self.stopping.wait(self.next_run_at - time.monotonic())
                continue
            now = time.monotonic()
            self.next_run_at = now + self.settings.beam_min_run_interval_s
            self.eager_at = now + min(self.settings.beam_eager_run_interval_s, self.settings.beam_min_run_interval_s)
            with logs.trace_context():
                self._run_until_written(ranges)
        self.offsets.close()
        log.info("stopped")

    def _run_until_written(self, ranges: list[OffsetRange]) -> None:
        """Run `ranges` until a run succeeds (then commit) or the job is stopping (then commit nothing)."""
        started = time.perf_counter()
        while True:
            try:
                counts = retry(
                    lambda: run_batch(self.settings, self.prism, ranges),
                    attempts=RUN_ATTEMPTS,
                    retry_on=(Exception,),  # any failed run is retried; the offsets stay uncommitted
                    base_delay_s=0.5,
                    max_delay_s=self.settings.beam_retry_max_backoff_s,
                    on_retry=lambda attempt, exc: self._failed(ranges, attempt, exc),
                    sleep=self._back_off,
                )
            except Stopping:
                return
            except Exception as exc:  # noqa: BLE001 - exhausted: wait for the stores, pulling nothing meanwhile
                self._failed(ranges, RUN_ATTEMPTS, exc)
                if not self._wait_for_questdb():
                    return
                continue
            committed = self.offsets.commit(ranges)
            self._record(counts, time.perf_counter() - started, committed)
            return

    def _failed(self, ranges: list[OffsetRange], attempt: int, exc: BaseException) -> None:
        service.BATCH_FAILURES.inc()
        fields = {"error": repr(exc)[:500], "attempt": attempt, "records": _size(ranges)}
        log.warning("run failed, retrying the same offsets", extra={"fields": fields})

    def _back_off(self, delay_s: float) -> None:
        if self.stopping.wait(delay_s):
            raise Stopping
        self.offsets.keep_alive()  # stay in the group while waiting

    def _wait_for_questdb(self) -> bool:
        """Block (serving the group protocol only) until QuestDB answers; False if stopping."""
        service.QUESTDB_DOWN.set(1)
        while not questdb_answers(self.settings):
            try:
                self._back_off(self.settings.beam_retry_max_backoff_s / 4)
            except Stopping:
                return False
        service.QUESTDB_DOWN.set(0)
        return True

    def _record(self, counts: RunCounts, seconds: float, committed: bool) -> None:
        service.RECORDS.inc(counts["records_consumed"])
        service.READINGS.inc(counts["readings_written"])
        service.PARSE_FAILURES.inc(counts["parse_failures"])
        service.FACILITY_MINUTES.inc(counts["facility_minutes_written"])
        service.ROLLUP_ROWS.inc(counts["rollup_rows_written"])
        service.RESCANNED.inc(counts["meter_minutes_rescanned"])
        service.QUESTDB_DLQ_ROWS.inc(counts["questdb_dlq_rows"])
        service.BATCH_SECONDS.observe(seconds)
        if committed:
            service.LAST_COMMIT.set_to_current_time()
        log.info(
            "batch written", extra={"fields": {**counts.counts, "seconds": round(seconds, 3), "committed": committed}}
        )


def _size(ranges: list[OffsetRange]) -> int:
    return sum(r.size for r in ranges)


def main() -> None:
    settings = get_settings()
    logs.configure("beam-job", settings.log_level)
    # Health probes, per-run harness setup, and dozens of info lines per run (type hints, job states).
    for chatty in ("kafka", "httpx", "apache_beam.runners.worker", "apache_beam.typehints", "PrismRunner",
                   "apache_beam.runners.portability"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    logs.throttle("kafka")  # reconnect attempts while Kafka is down: ERROR lines twice a second
    job = BeamJob(settings, prism.binary(settings))
    signal.signal(signal.SIGTERM, lambda *_: job.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: job.stopping.set())
    server = service.serve(settings)
    watchdog = threading.Thread(target=DiskWatchdog(settings).run, args=(job.stopping,), name="disk-watchdog",
                                daemon=True)
    watchdog.start()
    log.info("started", extra={"fields": {"group": settings.beam_consumer_group, "port": settings.beam_job_port}})
    try:
        job.run()
    finally:
        server.close()
