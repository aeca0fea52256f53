"""`sems bench ingest`: drive the whole running stack and print one JSON object of what happened."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated

import typer

from sems.facilities import demo_fleet
from sems.settings import Settings, get_settings
from sems.stack import controller
from streaming.bench.load import Load
from streaming.bench.measure import (
    ResourceWatch,
    Run,
    bridge_received,
    busy_rate,
    freshness_ms,
    job_work,
    questdb_writes,
    reconcile,
    wait_bridge_published,
    wait_committed,
    wait_landed,
    write_amplification,
)
from streaming.bench.outage import KafkaOutage, SpoolWatch
from streaming.bench.peer import end_offsets, run_peer

DRAIN_TIMEOUT_S = 1800.0
OUTAGE_AFTER_S = 10.0  # readings flow to Kafka first, so the outage cuts a running pipeline

app = typer.Typer(help="Benchmarks of the ingestion hot path.", no_args_is_help=True)


@app.command()
def ingest(
    facilities: Annotated[int, typer.Option(help="facilities publishing (<= SEMS_SIMULATOR_FACILITIES)")] = 5,
    meters: Annotated[int, typer.Option(help="meters per facility")] = 200,
    duration: Annotated[float, typer.Option(help="seconds of load")] = 30.0,
    mode: Annotated[str, typer.Option(help="single: a message per reading; gateway: batches")] = "gateway",
    rate: Annotated[float, typer.Option(help="offered readings/s in all; 0 = as fast as QoS 1 allows")] = 0.0,
    settle: Annotated[float, typer.Option(help="give up when nothing new lands for this long (s)")] = 60.0,
    kafka_outage: Annotated[float, typer.Option(help="stop Kafka for this many seconds, 10 s into the load")] = 0.0,
    drain: Annotated[bool, typer.Option(help="keep the Beam job stopped during the load, then time it draining "
                                              "the backlog, as the peer does")] = False,
) -> None:
    """Offer load over MQTT, reconcile it in QuestDB by (meter_id, seq), then run the peer on the same records."""
    settings = get_settings()
    if mode not in ("single", "gateway"):
        raise typer.BadParameter("mode must be single or gateway")
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    if facilities > len(fleet):
        typer.echo(f"error: {facilities} facilities but the broker knows {len(fleet)} devices "
                   "(start the stack with SEMS_SIMULATOR_FACILITIES)", err=True)
        raise typer.Exit(2)
    load = Load(settings, [f.facility_id for f in fleet[:facilities]], meters, mode, uuid.uuid4().hex[:8], rate)
    run = Run(load.tag, since_ms=int(time.time() * 1000) - 60_000)
    if drain:  # like with like: the job, too, drains a backlog on a machine the load no longer shares
        controller.down(settings, ["beam-job"], report=lambda _: None)
    watch, offsets_before, work_before = ResourceWatch(settings), end_offsets(settings), _job_work(settings, drain)
    received_before = bridge_received(settings)
    outage, spool = KafkaOutage(settings, OUTAGE_AFTER_S, kafka_outage), SpoolWatch(settings)
    watch.start()
    spool.start()
    began = time.monotonic()
    if kafka_outage:
        outage.start()
    publish_s = load.run(duration)
    load_ended = time.monotonic()
    if kafka_outage:
        outage.join()  # Kafka is back (the run may be shorter than the outage: the rest is drain)
    drained_at: float | None
    if drain:
        backlog_end, writes_before = end_offsets(settings), questdb_writes(settings)
        controller.up(settings, ["beam-job"], report=lambda _: None)
        began = time.monotonic()  # landed_per_s becomes the job's drain rate, wall clock from its start
        drained_at = wait_committed(settings, backlog_end, timeout_s=DRAIN_TIMEOUT_S)
        job_writes = write_amplification(writes_before, questdb_writes(settings))
        work_drained = job_work(settings)  # the runs after the drain (the simulator's trickle) are not its capacity
    else:
        drained_at = _caught_up(settings, load, received_before, settle)
    rows, distinct = reconcile(settings, run)
    settled_by = "committed_offsets"
    if drained_at is not None and distinct >= load.acked + load.in_doubt:
        last_landed = drained_at  # the reconciliation only confirms it: it did not poll beside the job
    else:  # readings in doubt, or the job not caught up: poll QuestDB until nothing new lands for `settle` s
        rows, distinct, last_landed = wait_landed(settings, run, load.acked + load.in_doubt, settle)
        settled_by = "questdb_poll"
    watch.stop()
    spool.done.set()
    job_busy_rate = busy_rate(work_before, work_drained if drain else job_work(settings))
    p50, p99 = freshness_ms(settings, run)
    questdb_cpu0, peer_cpu0, writes_before = watch.cpu_now("questdb"), time.process_time(), questdb_writes(settings)
    peer_readings, peer_s = run_peer(settings, offsets_before, end_offsets(settings))
    peer_writes = write_amplification(writes_before, questdb_writes(settings))
    peer_cpu_s = {"peer": round(time.process_time() - peer_cpu0, 1),
                  "questdb": round(watch.cpu_now("questdb") - questdb_cpu0, 1)}
    landed_rate = distinct / max(1e-9, last_landed - began)
    peer_rate = peer_readings / max(1e-9, peer_s)
    typer.echo(json.dumps({
        "run": load.tag, "mode": mode, "facilities": facilities, "meters": meters, "duration_s": duration,
        "offered_readings": load.acked, "offered_per_s": round(load.acked / publish_s),
        "landed_per_s": round(landed_rate), "freshness_p50_ms": p50, "freshness_p99_ms": p99,
        # From the end of the load to the last reading landed: how far behind the load the pipeline ended. Kept
        # up: about one run's length, however long the load. (landed_per_s counts this tail, so it stays just
        # under the offered rate even when nothing falls behind.) In drain mode: the drain's length.
        "caught_up_s": round(last_landed - load_ended, 1),
        # lost: acknowledged by the broker but not in QuestDB once nothing new landed for `settle` s. Readings
        # in doubt (sent, never acknowledged: their connection failed) may have landed too, so the exact count
        # lies between the two bounds: lost is at least `lost` and at most `lost_at_most` (0 and 0: none lost).
        "lost": max(0, load.acked - distinct), "lost_at_most": max(0, load.acked + load.in_doubt - distinct),
        "in_doubt": load.in_doubt, "duplicated": rows - distinct,
        "peak_rss_mb": {k: round(v) for k, v in watch.peak_rss_mb.items()}, "cpu_s": watch.cpu_s,
        "kafka_outage_s": kafka_outage, "bridge_spool_peak_mb": round(spool.peak_bytes / 1024**2, 1),
        "peer_readings": peer_readings, "peer_per_s": round(peer_rate), "peer_cpu_s": peer_cpu_s,
        # Like with like: the job's readings/s while running batches vs the peer's over the same backlog.
        # (landed_per_s cannot exceed the offered rate; the peer's rate is its capacity.)
        "job_busy_per_s": round(job_busy_rate),
        "ratio_job_to_peer": round(job_busy_rate / peer_rate, 2) if peer_rate else None,
        "drain": drain,
        # How the end was found: the job's committed Kafka offsets (nothing asked of QuestDB while the
        # job worked) or, when readings were in doubt or the bridge fell silent, polling QuestDB.
        "settled_by": settled_by,
        # QuestDB rows physically written per row applied (out-of-order merges), job's drain and peer's run.
        "questdb_writes": {"job": job_writes if drain else None, "peer": peer_writes},
    }))


def _caught_up(settings: Settings, load: Load, received_before: float, settle: float) -> float | None:
    """When the job had committed everything the bridge published of the load; None if the bridge fell silent.

    Asks the bridge's metrics and Kafka, not QuestDB: a reconciliation poll twice a second while the
    job catches up was ~17-20 % of QuestDB's CPU (a JFR profile, docs/benchmarks.md), slowing what it measures.
    """
    if not wait_bridge_published(settings, received_before, load.acked_messages, settle):
        return None
    return wait_committed(settings, end_offsets(settings), timeout_s=DRAIN_TIMEOUT_S)


def _job_work(settings: Settings, drain: bool) -> tuple[float, float]:
    # A job started for the drain counts from zero (its /metrics are new).
    return (0.0, 0.0) if drain else job_work(settings)
