"""BMS commands over real SOAP change what the facility's meters publish (whole stack up: simulator, bridge, Kafka).

The simulator serves the BMSs from the same process and the same `FacilityModel` objects
as the meter rounds, so the readings after a command follow the model with the commanded
controls. The noise-free expectation comes from a local `FacilityModel` of the same facility:
each reading divided by its meter's share of the expected load is 1 plus the meter's noise.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from apps.simulator.facility_model import NOISE, FacilityControls, FacilityModel
from sems.bms.client import BmsClient
from sems.facilities import Facility, demo_fleet
from sems.settings import Settings
from streaming.beam.records import record_rows
from tests.support import TopicTail, wait_until

ROUNDS = 2  # rounds of every meter per phase: with 4 meters the mean's noise is NOISE / sqrt(8), about 1 %


def _tolerance(readings: list[tuple[str, int, float]]) -> float:
    """Four standard deviations of the mean of independent per-reading noise."""
    return 4 * NOISE / math.sqrt(len(readings))


def _rounds_after(tail: TopicTail, facility: Facility, since_ms: int) -> Callable[[], list[tuple[str, int, float]]]:
    """A probe: the facility's readings stamped after `since_ms` once ROUNDS complete rounds arrived, else []."""

    def probe() -> list[tuple[str, int, float]]:
        readings = []
        for record in tail.matching(lambda r: r.key == facility.facility_id.encode()):
            rows = record_rows(record.value)
            readings += [(r["meter_id"], r["ts_ms"], r["kw"]) for r in rows if r["ts_ms"] > since_ms]
        rounds = {ts for _, ts, _ in readings}
        complete = sorted(ts for ts in rounds if sum(1 for _, t, _ in readings if t == ts) == len(facility.meter_ids))
        return [r for r in readings if r[1] in complete[:ROUNDS]] if len(complete) >= ROUNDS else []

    return probe


def _ratio(model: FacilityModel, readings: list[tuple[str, int, float]]) -> float:
    """Mean of reading / (meter share x the model's noise-free load) over the readings."""
    return statistics.fmean(
        kw / (model.shares[meter] * model.load_kw(datetime.fromtimestamp(ts / 1000, UTC))) for meter, ts, kw in readings
    )


def _command(client: BmsClient, offset_c: float, lighting: float) -> int:
    """Apply both controls over SOAP; the epoch ms after both were acknowledged."""
    for point, value in (("hvac_setpoint_offset_c", offset_c), ("lighting_level", lighting)):
        receipt = client.set_point(point, value, idempotency_key=f"test-{uuid.uuid4().hex}", trace_id="sim-test")
        assert receipt.status == "applied"
    return int(time.time() * 1000)


def test_a_bms_command_lowers_the_next_readings_by_the_modelled_amount_and_restoring_brings_them_back(
    settings: Settings, tail: Callable[[str], TopicTail]
) -> None:
    facility = demo_fleet(settings.simulator_facilities, settings.simulator_meters)[0]
    client, readings = BmsClient(settings, facility.facility_id), tail(settings.kafka_readings_topic)
    normal, shed = FacilityModel(facility), FacilityModel(facility, FacilityControls(5.0, 0.0))
    assert client.point_values()["lighting_level"] == 1.0, "another test left the facility's lighting changed"
    wait_s = (ROUNDS + 2) * settings.simulator_interval_s + 20

    try:
        applied_ms = _command(client, offset_c=5.0, lighting=0.0)
        after = wait_until(_rounds_after(readings, facility, applied_ms), timeout_s=wait_s,
                           what="rounds after the command")
    finally:
        restored_ms = _command(client, offset_c=0.0, lighting=1.0)

    tolerance = _tolerance(after)
    expected_drop = 1 - _ratio(normal, [(m, ts, shed.shares[m] * shed.load_kw(datetime.fromtimestamp(ts / 1000, UTC)))
                                        for m, ts, _ in after])
    assert expected_drop > 2 * tolerance, f"the model sheds too little at this hour to tell ({expected_drop:.3f})"
    assert abs(_ratio(shed, after) - 1) < tolerance
    assert abs((1 - _ratio(normal, after)) - expected_drop) < tolerance

    back = wait_until(_rounds_after(readings, facility, restored_ms), timeout_s=wait_s, what="rounds after restoring")
    assert abs(_ratio(normal, back) - 1) < _tolerance(back)
