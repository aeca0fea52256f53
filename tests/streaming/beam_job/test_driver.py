"""The driver loop's pacing: small runs start at most every `beam_min_run_interval_s`, big ones every
`beam_eager_run_interval_s`, and a stop ends the wait."""

from __future__ import annotations

import threading
import time

from sems.settings import Settings
from streaming.beam.kafka_io import OffsetRange
from streaming.beam_job.driver import BeamJob


class AlwaysRecords:
    """Offsets with `per_plan` new records every time the driver plans (1: a steady trickle)."""

    lag = 1

    def __init__(self, per_plan: int = 1) -> None:
        self.next = 0
        self.per_plan = per_plan

    def plan(self, _budget: int) -> list[OffsetRange]:
        self.next += self.per_plan
        return [OffsetRange("sensor-readings", 0, self.next - self.per_plan, self.next)]

    def close(self) -> None:
        pass


def pacing_job(
    settings: Settings, interval_s: float, runs: int, *, per_plan: int = 1, eager_s: float = 0.05
) -> tuple[BeamJob, list[float], list[float]]:
    """A `BeamJob` whose runs only note when they started and the earliest start set for the next run.

    No Kafka, no Prism: its loop's pacing alone. Runs of 100 records or more are eager (`eager_s`)."""
    job = BeamJob.__new__(BeamJob)
    job.settings = settings.model_copy(update={
        "beam_min_run_interval_s": interval_s, "beam_eager_run_interval_s": eager_s, "beam_eager_run_records": 100})
    job.offsets, job.stopping = AlwaysRecords(per_plan), threading.Event()  # type: ignore[assignment]
    job.next_run_at = job.eager_at = 0.0
    started: list[float] = []
    next_at: list[float] = []

    def run(ranges: list[OffsetRange]) -> None:
        started.append(time.monotonic())
        next_at.append(job.eager_at if sum(r.size for r in ranges) >= 100 else job.next_run_at)
        if len(started) == runs:
            job.stopping.set()

    job._run_until_written = run  # type: ignore[method-assign, assignment]  # noqa: SLF001
    return job, started, next_at


def test_runs_of_a_trickle_start_no_more_often_than_the_interval(settings: Settings) -> None:
    job, started, next_at = pacing_job(settings, 0.2, runs=4)
    job.run()
    # The driver sets the next start just before a run begins, so a run starts no earlier than the
    # deadline set before the previous one; comparing run starts alone would count the moments the
    # thread spends descheduled between the two (CI once saw a gap of 0.1994 s).
    assert len(started) == 4
    assert all(start >= deadline for deadline, start in zip(next_at, started[1:], strict=False))
    assert all(0.1 < deadline - start <= 0.2 for start, deadline in zip(started, next_at, strict=True))


def test_runs_of_a_backlog_start_every_eager_interval_not_every_interval(settings: Settings) -> None:
    job, started, next_at = pacing_job(settings, 3600.0, runs=4, per_plan=100, eager_s=0.05)
    loop = threading.Thread(target=job.run)
    loop.start()
    loop.join(30)  # four runs an hour apart would still be waiting
    assert not loop.is_alive() and len(started) == 4
    assert all(start >= deadline for deadline, start in zip(next_at, started[1:], strict=False))
    assert all(0.0 < deadline - start <= 0.05 for start, deadline in zip(started, next_at, strict=True))


def test_a_stop_ends_the_wait_for_the_next_run(settings: Settings) -> None:
    job, started, _ = pacing_job(settings, 3600.0, runs=10)
    loop = threading.Thread(target=job.run)
    loop.start()
    while not started:
        loop.join(0.01)
    job.stopping.set()
    loop.join(10)
    assert not loop.is_alive() and len(started) == 1
