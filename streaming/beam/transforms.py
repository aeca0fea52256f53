"""The reading transforms of the job: parse records (bad ones to the DLQ) and 1-minute facility loads.

Elements are batches (a Kafka record's readings, or one facility-minute of meter partials),
never single readings: Beam Python moves only tens of thousands of elements per second here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration

from streaming.beam.loads import (
    MINUTE_MS,
    FacilityMinute,
    MeterPartials,
    facility_minute,
    merge_partials,
    partials_by_minute,
)
from streaming.beam.records import DlqEntry, KafkaRecord, ReadingBatch, parse_record

NAMESPACE = "sems.beam"
DLQ_TAG = "dlq"


class _ParseRecordFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records = Metrics.counter(NAMESPACE, "records_consumed")
        self.readings = Metrics.counter(NAMESPACE, "readings_parsed")
        self.failures = Metrics.counter(NAMESPACE, "parse_failures")

    def process(self, record: KafkaRecord) -> Iterator[Any]:
        self.records.inc()
        parsed = parse_record(record)
        if isinstance(parsed, DlqEntry):
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(DLQ_TAG, parsed)
        else:
            self.readings.inc(len(parsed.readings))
            yield parsed


class ParseReadings(beam.PTransform):  # type: ignore[misc]
    """KafkaRecord -> ReadingBatch (main output) and DlqEntry (output `dlq`), counting both."""

    def expand(self, records: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return records | "ParseRecord" >> beam.ParDo(_ParseRecordFn()).with_outputs(DLQ_TAG, main="readings")


class _MergeMeterPartials(beam.CombineFn):  # type: ignore[misc]
    """Associative merge of {meter_id: MeterPartial} dicts of one facility-minute."""

    def create_accumulator(self) -> MeterPartials:
        return MeterPartials()

    def add_input(self, accumulator: MeterPartials, element: MeterPartials) -> MeterPartials:
        return merge_partials([accumulator, element])

    def merge_accumulators(self, accumulators: Iterable[MeterPartials]) -> MeterPartials:
        return merge_partials(accumulators)

    def extract_output(self, accumulator: MeterPartials) -> MeterPartials:
        return accumulator


def _timestamped_partials(batch: ReadingBatch) -> Iterator[window.TimestampedValue]:
    """One element per (facility, minute) of the batch, stamped with the minute's event time."""
    for minute_ms, meters in partials_by_minute(batch.readings).items():
        yield window.TimestampedValue((batch.facility_id, meters), minute_ms / 1000.0)


def _to_facility_minute(element: tuple[str, MeterPartials], win: Any = beam.DoFn.WindowParam) -> FacilityMinute:
    facility_id, meters = element
    return facility_minute(facility_id, int(win.start.micros // 1000), meters)


class FacilityLoad1m(beam.PTransform):  # type: ignore[misc]
    """ReadingBatch -> FacilityMinute: event-time 1-minute windows per facility (kw = sum of meter averages).

    Windows accumulate, so in a streaming run a late reading re-fires its window with the
    whole minute (DEDUP UPSERT in QuestDB replaces the earlier row).
    """

    def __init__(self, allowed_lateness_s: int = 600) -> None:
        super().__init__()
        self.allowed_lateness_s = allowed_lateness_s

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return (
            batches
            | "PartialsByMinute" >> beam.FlatMap(_timestamped_partials)
            | "FromPartials" >> FacilityLoad1mFromPartials(self.allowed_lateness_s)
        )


class FacilityLoad1mFromPartials(beam.PTransform):  # type: ignore[misc]
    """(facility_id, MeterPartials) stamped with their minute -> FacilityMinute, in event-time windows."""

    def __init__(self, allowed_lateness_s: int = 600) -> None:
        super().__init__()
        self.allowed_lateness_s = allowed_lateness_s

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "Window1m"
            >> beam.WindowInto(
                window.FixedWindows(MINUTE_MS // 1000),
                allowed_lateness=Duration(seconds=self.allowed_lateness_s),
                accumulation_mode=beam.transforms.trigger.AccumulationMode.ACCUMULATING,
            )
            | "MergeMeters" >> beam.CombinePerKey(_MergeMeterPartials())
            | "FacilityTotals" >> beam.Map(_to_facility_minute)
        )
