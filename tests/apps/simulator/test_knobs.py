"""The simulator's knobs do what they say: counted in Kafka, the bridge's DLQ and on the MQTT wire (stack up).

Each test runs a `Fleet` in the test process (its own MQTT client ids) for one facility with
test-only meters, publishes rounds back to back with event timestamps one interval apart
(no waiting for wall-clock rounds) and reconciles what the fleet says it sent with what
the real bridge delivered. The running simulator, with the default (clean) knobs, is untouched.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from paho.mqtt.client import MQTTMessage

from apps.simulator.facility_model import FacilityModel
from apps.simulator.fleet import Fleet
from sems.facilities import demo_fleet
from sems.mqtt import batches_topic, bridge_client
from sems.settings import Settings
from streaming.beam.records import record_rows
from tests.support import TopicTail, wait_until

ROUNDS = 20
INTERVAL_S = 1.0


@dataclass
class Run:
    """One fleet run: the fleet (with its tally), its meters and each round's true timestamp."""

    fleet: Fleet
    meter_ids: tuple[str, ...]
    rounds_ms: list[int]

    def landed(self, tail: TopicTail, expected: int) -> list[dict[str, Any]]:
        """The run's readings in Kafka, in arrival order, once `expected` arrived."""

        def probe() -> list[dict[str, Any]]:
            found = [r for record in tail.matching(lambda r: r.key == self.facility_id.encode())
                     for r in record_rows(record.value) if r["meter_id"] in self.meter_ids]
            return found if len(found) >= expected else []

        return wait_until(probe, timeout_s=30, what=f"{expected} readings of the test meters in Kafka")

    @property
    def facility_id(self) -> str:
        return self.fleet.devices[0].facility_id


@pytest.fixture
def run_fleet(settings: Settings) -> Iterator[Callable[..., Run]]:
    """`run_fleet(meters=2, **knobs)`: ROUNDS rounds of a one-facility fleet with those knobs, sent and flushed."""
    fleets: list[Fleet] = []

    def run(meters: int = 2, **knobs: Any) -> Run:
        tag = uuid.uuid4().hex[:6]
        base = demo_fleet(1, meters)[0]
        meter_ids = tuple(f"{base.facility_id}-k{tag}-m{i + 1:02d}" for i in range(meters))
        facility = replace(base, meter_ids=meter_ids, contract_demand_kw=4.0)  # tiny: the facility's load barely moves
        knobs = {"simulator_interval_s": INTERVAL_S, "simulator_seed": 11, **knobs}
        fleet = Fleet(settings.model_copy(update=knobs), [FacilityModel(facility)], client_prefix=f"test-knobs-{tag}")
        fleets.append(fleet)
        fleet.connect()
        wait_until(fleet.connected, timeout_s=10, what="the test fleet's MQTT connection")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=ROUNDS * INTERVAL_S)
        rounds = [start + timedelta(seconds=i * INTERVAL_S) for i in range(ROUNDS)]
        for at in rounds:
            fleet.publish_round(at)
        fleet.flush_held()
        return Run(fleet, meter_ids, [int(at.timestamp() * 1000) for at in rounds])

    yield run
    for fleet in fleets:
        fleet.close(timeout_s=settings.mqtt_timeout_s)


def _inversions(readings: list[dict[str, Any]]) -> tuple[int, int]:
    """(readings that arrived after a newer one of their meter, the largest such lag in ms)."""
    newest: dict[str, int] = {}
    count, worst = 0, 0
    for r in readings:
        lag = newest.get(r["meter_id"], r["ts_ms"]) - r["ts_ms"]
        if lag > 0:
            count, worst = count + 1, max(worst, lag)
        newest[r["meter_id"]] = max(newest.get(r["meter_id"], r["ts_ms"]), r["ts_ms"])
    return count, worst


def test_default_knobs_send_every_reading_once_in_order_one_per_message(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings = tail(settings.kafka_readings_topic)
    run = run_fleet()
    expected = ROUNDS * len(run.meter_ids)
    landed = run.landed(readings, expected)
    assert len(landed) == expected == run.fleet.tally["messages"]
    assert {(r["meter_id"], r["ts_ms"]) for r in landed} == {(m, ts) for m in run.meter_ids for ts in run.rounds_ms}
    assert _inversions(landed) == (0, 0)
    assert set(run.fleet.tally) == {"readings", "messages"}


def test_duplicates_repeat_a_reading_with_its_sequence_number(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings = tail(settings.kafka_readings_topic)
    run = run_fleet(simulator_duplicate_rate=0.3)
    duplicates = run.fleet.tally["duplicate"]
    assert 0 < duplicates < ROUNDS * len(run.meter_ids)
    landed = run.landed(readings, ROUNDS * len(run.meter_ids) + duplicates)
    per_reading = Counter((r["meter_id"], r["seq"]) for r in landed)
    assert len(per_reading) == ROUNDS * len(run.meter_ids)
    assert sum(1 for n in per_reading.values() if n == 2) == duplicates
    assert max(per_reading.values()) == 2


def test_out_of_order_and_late_readings_arrive_behind_newer_ones_within_the_lateness_bound(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings = tail(settings.kafka_readings_topic)
    late_max_s = 8.0
    run = run_fleet(simulator_out_of_order_rate=0.15, simulator_late_rate=0.15, simulator_late_max_s=late_max_s)
    assert run.fleet.tally["out_of_order"] > 0 and run.fleet.tally["late"] > 0
    landed = run.landed(readings, ROUNDS * len(run.meter_ids))
    assert len({(r["meter_id"], r["seq"]) for r in landed}) == len(landed) == ROUNDS * len(run.meter_ids)
    overtaken, worst_ms = _inversions(landed)
    assert overtaken > 0
    assert worst_ms <= late_max_s * 1000 + INTERVAL_S * 1000  # held at most late_max_s, sent with the next round


def test_gateway_batching_puts_up_to_n_readings_in_each_message(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings, wire = tail(settings.kafka_readings_topic), _Wire(settings, demo_fleet(1, 1)[0].facility_id)
    try:
        run = run_fleet(meters=5, simulator_batch_readings=2)
        landed = run.landed(readings, ROUNDS * 5)
        assert len(landed) == ROUNDS * 5
        messages = wait_until(lambda: wire.ours(run.meter_ids, ROUNDS * 3), timeout_s=15, what="the batches on MQTT")
    finally:
        wire.close()
    assert run.fleet.tally["messages"] == ROUNDS * math.ceil(5 / 2) == len(messages)
    assert sorted(len(m) for m in messages) == sorted([2, 2, 1] * ROUNDS)


def test_malformed_messages_land_in_the_dlq_with_a_reason_and_the_real_readings_still_arrive(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings, dlq = tail(settings.kafka_readings_topic), tail(settings.kafka_readings_dlq_topic)
    run = run_fleet(simulator_malformed_rate=0.25)
    malformed = run.fleet.tally["malformed"]
    assert malformed > 0
    assert len(run.landed(readings, ROUNDS * len(run.meter_ids))) == ROUNDS * len(run.meter_ids)
    topics = {f"{settings.mqtt_topic_prefix}/readings/{run.facility_id}/{m}" for m in run.meter_ids}

    def entries() -> list[dict[str, Any]]:
        found = [json.loads(r.value) for r in dlq.matching(lambda r: True)]
        ours = [e for e in found if e.get("topic") in topics]
        return ours if len(ours) >= malformed else []

    rejected = wait_until(entries, timeout_s=30, what=f"{malformed} DLQ entries of the test meters")
    assert len(rejected) == malformed
    assert all(e["reason"].split(":")[0] for e in rejected)
    assert len({e["reason"].split(":")[0] for e in rejected}) > 1  # several kinds of breakage


def test_clock_skew_shifts_each_meters_timestamps_by_its_own_fixed_amount(
    run_fleet: Callable[..., Run], tail: Callable[[str], TopicTail], settings: Settings
) -> None:
    readings = tail(settings.kafka_readings_topic)
    run = run_fleet(meters=4, simulator_clock_skew_max_s=120.0)
    landed = run.landed(readings, ROUNDS * 4)
    offsets: dict[str, set[int]] = {}
    for r in landed:
        true_ts = run.rounds_ms[r["seq"] - 1]  # the n-th reading of a meter belongs to the n-th round
        offsets.setdefault(r["meter_id"], set()).add(r["ts_ms"] - true_ts)
    assert all(len(v) == 1 for v in offsets.values()), "a meter's skew must not drift"
    skews = [next(iter(v)) for v in offsets.values()]
    assert len(set(skews)) == 4 and all(abs(s) <= 120_000 for s in skews)
    assert max(map(abs, skews)) > 1000  # skewed for real, not rounding


class _Wire:
    """A plain MQTT subscriber (bridge credentials, its own session) to a facility's batch topic."""

    def __init__(self, settings: Settings, facility_id: str) -> None:
        self.payloads: list[bytes] = []
        self.client = bridge_client(settings, f"test-wire-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, message: self._received(message)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(settings.host, settings.mqtt_port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(batches_topic(settings, facility_id), qos=1)
        assert subscribed.wait(settings.mqtt_timeout_s), "no SUBACK from the broker"

    def _received(self, message: MQTTMessage) -> None:
        self.payloads.append(message.payload)

    def ours(self, meter_ids: tuple[str, ...], expected: int) -> list[list[dict[str, Any]]]:
        batches = [json.loads(p)["readings"] for p in list(self.payloads)]
        mine = [b for b in batches if b and b[0]["meter_id"] in meter_ids]
        return mine if len(mine) >= expected else []

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
