"""The job's pipeline: Kafka offset ranges -> QuestDB `readings`, `meter_load_1m` and the facility rollups.

    ReadOffsetRanges -> ParseReadings -> WriteReadings -> MinuteDeltas -> StoredMeterPartials (-> meter_load_1m)
                                  \\-> dlq -> PublishDlq   -> FacilityLoad1m -> WriteFacilityLoad -> TouchedRollups
                                                                                          -> Rollups (15m, 1h)

The minutes are rebuilt from per-meter partials: the stored ones (`meter_load_1m`) plus what the
run's acknowledged readings add (`MinuteDelta`s from the raw sink), or, where a reading may have
replaced a stored one, recomputed by QuestDB from the stored `readings` (`meter_deltas.py`): so a
minute whose readings arrive over several runs (late or out of order) is always the total of
all its readings, and a replayed run rewrites identical rows (DEDUP UPSERT KEYS).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows, TimestampCombiner

from sems.settings import Settings
from streaming.beam import beam_speedups
from streaming.beam.beam_speedups import SharedViews
from streaming.beam.kafka_io import OffsetRange, PublishDlqFn, ReadOffsetRangeFn
from streaming.beam.questdb_io import StoredMeterPartialsFn, WriteFacilityLoadFn
from streaming.beam.rollups import RollupsFn
from streaming.beam.transforms import DLQ_TAG, NAMESPACE, FacilityLoad1mFromPartials, ParseReadings
from streaming.beam.write_readings import WriteReadingsFn

COUNTERS = (
    "records_consumed", "readings_parsed", "parse_failures", "readings_written", "facility_minutes_written",
    "rollup_rows_written", "questdb_dlq_rows", "meter_minutes_rescanned",
)


def _touched_groups(label: str) -> beam.PTransform:
    # Grouped output keeps the earliest touched minute as its event time, so the watermark
    # holds there and the minute windows downstream are not late (and dropped).
    return (
        f"{label}Window" >> beam.WindowInto(GlobalWindows(), timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST)
    )


def build(pipeline: beam.Pipeline, settings: Settings, ranges: Sequence[OffsetRange]) -> None:
    """Add the job's transforms for `ranges` to `pipeline`."""
    records = (
        pipeline
        | "OffsetRanges" >> beam.Create([tuple(ranges)], reshuffle=False)  # one element: read together
        | "ReadOffsetRanges" >> beam.ParDo(ReadOffsetRangeFn(settings))
    )
    parsed = records | "ParseReadings" >> ParseReadings()
    _ = parsed[DLQ_TAG] | "PublishDlq" >> beam.ParDo(PublishDlqFn(settings))
    _ = (
        parsed.readings
        | "WriteReadings" >> beam.ParDo(WriteReadingsFn(settings))
        | _touched_groups("Touched")
        | "MinuteDeltas" >> beam.GroupByKey()
        | "StoredMeterPartials" >> beam.ParDo(StoredMeterPartialsFn(settings))
        | "FacilityLoad1m" >> FacilityLoad1mFromPartials(settings.beam_allowed_lateness_s)
        # The sink emits touched minutes from finish_bundle in the global window: its input must be there too.
        | "Unwindow" >> beam.WindowInto(GlobalWindows())
        | "WriteFacilityLoad" >> beam.ParDo(WriteFacilityLoadFn(settings))
        | _touched_groups("Rollup")
        | "TouchedRollups" >> beam.GroupByKey()
        | "Rollups" >> beam.ParDo(RollupsFn(settings))
    )


def options(settings: Settings, prism: Path) -> PipelineOptions:
    """Prism (a real portable runner), the SDK harness in this process (LOOPBACK), views shared (`beam_speedups`)."""
    return SharedViews(
        runner="PrismRunner",
        prism_location=str(prism),
        environment_type="LOOPBACK",
        job_name="sems-beam-job",
    )


@dataclass(frozen=True)
class RunCounts:
    """What one bounded run did, from its Beam counters."""

    counts: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)


def run_batch(settings: Settings, prism: Path, ranges: Sequence[OffsetRange]) -> RunCounts:
    """Run the pipeline over `ranges` to completion; raises if any step (a QuestDB write) failed."""
    started = time.perf_counter()
    beam_speedups.apply()
    pipeline = beam.Pipeline(options=options(settings, prism))
    build(pipeline, settings, ranges)
    result = pipeline.run()
    submitted = time.perf_counter()
    state = result.wait_until_finish()
    if state != beam.runners.runner.PipelineState.DONE:
        raise RuntimeError(f"Beam run over {len(ranges)} offset ranges ended {state}")
    counts = _counters(result)
    counts["ms_submit"] = round((submitted - started) * 1000)
    counts["ms_run"] = round((time.perf_counter() - submitted) * 1000)
    return RunCounts(counts)


def _counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    counts = dict.fromkeys(COUNTERS, 0)
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        name = counter.key.metric.name
        counts[name] = counts.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return counts
