"""Event-time logic of the facility minutes under a streaming runner (TestStream): out of order, late, too late.

The watermark passes a minute, its window fires; a late reading within the allowed lateness
re-fires the window with the whole minute (accumulating), which QuestDB upserts over the
earlier row; a reading later than the allowed lateness is dropped from the window (its raw
row is still stored, and the next run that touches that minute recomputes it from QuestDB).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from streaming.beam.loads import FacilityMinute, MeterPartial
from streaming.beam.transforms import FacilityLoad1mFromPartials

T0 = 1_764_000_000_000 - 1_764_000_000_000 % 60_000  # a minute boundary (epoch ms)


def partial(minute_ms: int, meter_id: str, kw: float) -> window.TimestampedValue:
    return window.TimestampedValue(("fac-1", {meter_id: MeterPartial.of(kw)}), (minute_ms + 1_000) / 1000)


def test_late_readings_refire_their_window_and_too_late_ones_are_dropped() -> None:
    stream = (
        test_stream.TestStream()
        .advance_watermark_to(T0 / 1000)
        .add_elements([partial(T0 + 60_000, "m1", 8.0), partial(T0, "m1", 10.0)])  # out of order
        .advance_watermark_to((T0 + 120_000) / 1000)  # both minutes close: on-time panes
        .add_elements([partial(T0, "m2", 5.0)])  # late, within the allowed lateness: minute 0 re-fires
        .advance_watermark_to((T0 + 120_000 + 700_000) / 1000)  # beyond 600 s of lateness for both
        .add_elements([partial(T0, "m3", 99.0)])  # too late: dropped
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        minutes = p | stream | FacilityLoad1mFromPartials(allowed_lateness_s=600)
        assert_that(
            minutes,
            equal_to(
                [
                    FacilityMinute("fac-1", T0, 10.0, 10.0, 10.0, 10.0 / 60, 1, 1),  # on time
                    FacilityMinute("fac-1", T0 + 60_000, 8.0, 8.0, 8.0, 8.0 / 60, 1, 1),
                    FacilityMinute("fac-1", T0, 15.0, 15.0, 15.0, 15.0 / 60, 2, 2),  # late: whole minute again
                ]
            ),
        )
