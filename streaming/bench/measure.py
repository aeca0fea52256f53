"""What landed: exact reconciliation and freshness from QuestDB, and peak RSS / CPU of the bridge and the job."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import psutil

from sems.settings import Settings
from sems.stack import process
from sems.stack.controller import run_dir
from sems.stores import kafka, questdb

WATCHED = ("bridge", "beam-job")  # peak RSS and CPU; QuestDB's CPU too (who makes it work how hard)
COMMIT_POLL_S = 0.1
PROBE_TIMEOUT_S = 60.0  # the reconciliation scans the run's readings while QuestDB is still applying them


@dataclass(frozen=True)
class Run:
    """A bench run's readings: meter ids carry `tag`, timestamps are not older than `since_ms`."""

    tag: str
    since_ms: int

    @property
    def where(self) -> str:
        # The time bound lets QuestDB scan only the run's interval: without it every poll (twice a
        # second) scanned the whole `readings` table, tens of millions of rows, beside the job under test.
        return f"ts >= {self.since_ms * 1000} AND meter_id LIKE '%-b{self.tag}-%'"


def landed(settings: Settings, run: Run) -> tuple[int, int]:
    """(rows, distinct (meter_id, seq)) of the run's readings in QuestDB, from one snapshot (one query).

    Distinct per meter, then summed: `count_distinct(concat(meter_id, '/', seq))` built a Java string
    per row and ran QuestDB's 1 GB heap out of memory on 31 M readings (a 10-minute outage run).
    """
    [row] = questdb.query(
        settings,
        "SELECT sum(n) n, sum(d) d FROM (SELECT meter_id, count() n, count_distinct(seq) d FROM readings "
        f"WHERE {run.where} GROUP BY meter_id)",
        timeout_s=PROBE_TIMEOUT_S,
    )
    return int(row["n"] or 0), int(row["d"] or 0)


def reconcile(settings: Settings, run: Run, attempts: int = 20) -> tuple[int, int]:
    """`landed`, asked again (every 0.5 s) while QuestDB refuses the query, busy applying the load."""
    for attempt in range(attempts):
        try:
            return landed(settings, run)
        except questdb.QuestDBError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def freshness_ms(settings: Settings, run: Run) -> tuple[float, float]:
    """p50 and p99 of (written to QuestDB - meter timestamp) over the run's Kafka records, from their lineage.

    Per record, from its oldest reading: a gateway record's readings share one timestamp; single
    readings merged into one record arrived within the bridge's few-millisecond merge window, so
    the newer ones count a few milliseconds too many. `ingested_at` is when QuestDB had
    acknowledged the whole run that carried the record; its first meter carries the run's tag.
    Percentiles computed by QuestDB (`approx_percentile`, 3 significant digits).
    """
    lag = "datediff('T', ts, ingested_at)::double"
    [row] = questdb.query(
        settings,
        f"SELECT approx_percentile({lag}, 0.5, 3) p50, approx_percentile({lag}, 0.99, 3) p99 "
        f"FROM reading_lineage WHERE {run.where}",
        timeout_s=PROBE_TIMEOUT_S,
    )
    if row["p50"] is None:
        return float("nan"), float("nan")
    return float(row["p50"]), float(row["p99"])


@dataclass
class ResourceWatch:
    """Samples RSS (with children) and CPU time of the bridge and beam-job processes every 0.5 s."""

    settings: Settings
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _tree(self, name: str) -> list[psutil.Process]:
        record = process.read_record(run_dir(self.settings), name)
        if record is None:
            return []
        root = psutil.Process(record.pid)
        return [root, *root.children(recursive=True)]

    def cpu_now(self, name: str) -> float:
        """CPU seconds `name`'s processes used so far."""
        return self._cpu(name)

    def _cpu(self, name: str) -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in self._tree(name))

    def start(self) -> None:
        self._cpu0 = {name: self._cpu(name) for name in (*WATCHED, "questdb")}
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for name in WATCHED:
                try:
                    rss = sum(p.memory_info().rss for p in self._tree(name)) / 1024**2
                except psutil.Error:
                    continue
                self.peak_rss_mb[name] = max(rss, self.peak_rss_mb.get(name, 0.0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_s = {name: round(self._cpu(name) - self._cpu0[name], 1) for name in self._cpu0}


def wait_landed(settings: Settings, run: Run, expected: int, timeout_s: float) -> tuple[int, int, float]:
    """Poll until `expected` distinct readings landed or nothing new lands for `timeout_s`; (rows, distinct, when).

    A probe that fails (QuestDB busy applying the load) is polled again, but failing probes count
    towards `timeout_s` too, so a query that can never succeed ends the wait instead of looping forever.
    """
    last, last_change = -1, time.monotonic()
    rows = distinct = 0
    while True:
        try:
            rows, distinct = landed(settings, run)
        except questdb.QuestDBError as exc:
            if time.monotonic() - last_change > 3 * timeout_s:
                raise RuntimeError(f"the reconciliation query keeps failing: {exc}") from exc
            time.sleep(0.5)
            continue
        if distinct != last:
            last, last_change = distinct, time.monotonic()
        if distinct >= expected or time.monotonic() - last_change > timeout_s:
            return rows, distinct, last_change
        time.sleep(0.5)


def wait_committed(settings: Settings, targets: dict[int, int], timeout_s: float) -> float:
    """Block until the job's consumer group committed at least `targets` (partition -> offset); returns when.

    The drain's clock stops here: the job commits a range only after QuestDB acknowledged (and applied)
    its readings, so this is when the backlog is queryable. It asks Kafka, not QuestDB: polling QuestDB
    with reconciliation scans beside the job under test made QuestDB work for the bench, too.
    """
    client, group_id = kafka.admin(settings), settings.beam_consumer_group
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            group = client.list_group_offsets({group_id: None}).get(group_id, {})
            committed = {tp.partition: meta.offset for tp, meta in group.items()
                         if tp.topic == settings.kafka_readings_topic}
            if all(committed.get(p, 0) >= end for p, end in targets.items()):
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the job did not commit {targets} within {timeout_s}s (at {committed})")
            time.sleep(COMMIT_POLL_S)
    finally:
        client.close()


BRIDGE_QUIET = ("sems_bridge_inbox_messages", "sems_bridge_pending_acks", "sems_bridge_spool_bytes")


def bridge_received(settings: Settings) -> float:
    """MQTT messages the bridge received so far (its own /metrics)."""
    return scrape(_bridge_metrics(settings)).get("sems_bridge_messages_received_total", 0.0)


def wait_bridge_published(settings: Settings, received_before: float, messages: int, settle_s: float) -> bool:
    """Block until the bridge received `messages` more MQTT messages and has none left unpublished.

    What the broker acknowledged to the publishers is in Kafka once the bridge has received it and
    its inbox, its messages awaiting Kafka and its spool are empty. Other traffic (the simulator,
    redeliveries) can only make the count arrive early: the reconciliation afterwards catches that.
    False when the bridge sat idle (connected, all three empty) for `settle_s` without receiving them all.
    """
    idle_since = time.monotonic()
    while time.monotonic() - idle_since <= settle_s:
        try:
            values = scrape(_bridge_metrics(settings))
        except httpx.HTTPError:  # the bridge restarting: ask again
            idle_since = time.monotonic()
            time.sleep(COMMIT_POLL_S)
            continue
        # Away from the broker (reconnecting), it may yet receive what the broker queued for it.
        busy = any(values.get(name, 0.0) for name in BRIDGE_QUIET) or not values.get("sems_bridge_mqtt_connected")
        if not busy and values.get("sems_bridge_messages_received_total", 0.0) - received_before >= messages:
            return True
        if busy:  # the simulator's trickle keeps the count moving, so only an idle bridge ends the wait
            idle_since = time.monotonic()
        time.sleep(COMMIT_POLL_S)
    return False


def _bridge_metrics(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.bridge_port}/metrics"


def scrape(url: str) -> dict[str, float]:
    """A Prometheus endpoint's samples by name (labels ignored: the bench reads unlabelled totals)."""
    return samples(httpx.get(url, timeout=5).text)


def samples(text: str) -> dict[str, float]:
    """The numeric samples of a Prometheus text exposition, by name (the last one of a name wins).

    Line by line, not with `prometheus_client`'s parser: QuestDB exposes some gauges as `null`
    until they have a value, and that parser raises on the whole page for one such line.
    """
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{") if "{" in line.split(" ", 1)[0] else line.partition(" ")
        value = rest.rsplit("}", 1)[-1].split()
        try:
            values[name.strip()] = float(value[0])
        except (IndexError, ValueError):
            continue  # `null`, NaN spelled otherwise: not a figure the bench can use
    return values


QUESTDB_WRITES = ("questdb_wal_apply_written_rows_total", "questdb_wal_apply_physically_written_rows_total",
                  "questdb_commits_total", "questdb_o3_commits_total")


def questdb_writes(settings: Settings) -> dict[str, float]:
    """QuestDB's own write counters (rows applied, rows physically written, commits, out-of-order commits)."""
    values = scrape(f"http://{settings.host}:{settings.questdb_health_port}/metrics")
    return {name: values.get(name, 0.0) for name in QUESTDB_WRITES}


def write_amplification(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Rows QuestDB physically wrote per row applied between two `questdb_writes` snapshots, and its commits.

    Out-of-order commits rewrite the partition from the earliest new row on: this ratio is what
    they cost (1.0 = every row appended once).
    """
    rows, physical = (after[n] - before[n] for n in QUESTDB_WRITES[:2])
    return {"rows": rows, "amplification": round(physical / rows, 2) if rows else 0.0,
            "commits": after["questdb_commits_total"] - before["questdb_commits_total"],
            "o3_commits": after["questdb_o3_commits_total"] - before["questdb_o3_commits_total"]}


def job_work(settings: Settings) -> tuple[float, float]:
    """(readings written, seconds spent in runs) so far, from the job's own /metrics."""
    values = scrape(f"http://{settings.host}:{settings.beam_job_port}/metrics")
    return values.get("sems_beam_readings_written_total", 0.0), values.get("sems_beam_batch_duration_seconds_sum", 0.0)


def busy_rate(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Readings/s while the job was running batches (its capacity, comparable with the peer's backlog rate)."""
    readings, seconds = after[0] - before[0], after[1] - before[1]
    return readings / seconds if seconds > 0 else 0.0
