"""The running beam-job service: a Kafka record in the bridge's format lands in `readings` and `facility_load_1m`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from sems.settings import Settings
from sems.stack.health import http_ok
from sems.stores import kafka, questdb
from tests.support import TopicTail, header, wait_until


def produce(settings: Settings, facility_id: str, value: bytes) -> None:
    producer = kafka.producer(settings)
    try:
        producer.send(settings.kafka_readings_topic, key=facility_id.encode(), value=value,
                      headers=[("trace_id", uuid.uuid4().hex.encode()), ("received_at_ms", b"0")]
                      ).get(timeout=settings.kafka_timeout_s)
    finally:
        producer.close(timeout=settings.kafka_timeout_s)


def rows(settings: Settings, sql: str) -> list[dict]:
    return questdb.query(settings, sql)


def test_a_record_becomes_raw_readings_and_a_facility_minute(settings: Settings) -> None:
    facility_id = f"it-fac-{uuid.uuid4().hex[:12]}"
    minute_ms = (int(time.time() * 1000) // 60_000 - 2) * 60_000  # a closed minute, two minutes ago
    readings = [
        {"meter_id": f"m-{uuid.uuid4().hex[:8]}-a", "ts_ms": minute_ms + 5_000, "kw": 10.0, "kwh": 1.0, "seq": 1},
        {"meter_id": "m-b", "ts_ms": minute_ms + 20_000, "kw": 4.0, "kwh": None, "seq": None},
    ]
    produce(settings, facility_id, json.dumps({"v": 1, "facility_id": facility_id, "readings": readings[:1]}).encode())
    produce(settings, facility_id, json.dumps({"v": 1, "facility_id": facility_id, "readings": readings[1:]}).encode())

    where = f"WHERE facility_id = '{facility_id}'"
    wait_until(lambda: len(rows(settings, f"SELECT * FROM readings {where}")) == 2,
               timeout_s=60, what="both readings in QuestDB readings")
    raw = rows(settings, f"SELECT * FROM readings {where}")
    assert sorted(r["kw"] for r in raw) == [4.0, 10.0]
    # Two records (possibly two runs) of one minute: the facility minute totals both meters.
    load = wait_until(lambda: [r for r in rows(settings, f"SELECT * FROM facility_load_1m {where}") if r["meters"] > 1],
                      timeout_s=60, what="the facility minute of both meters")
    assert load[0]["kw_avg"] == 14.0 and load[0]["readings"] == 2
    assert load[0]["ts"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(minute_ms / 1000)))


def test_a_malformed_record_goes_to_the_dlq_and_the_job_stays_healthy(
    settings: Settings, tail: Callable[[str], TopicTail]
) -> None:
    marker = f"bad-{uuid.uuid4().hex}".encode()
    dlq = tail(settings.kafka_readings_dlq_topic)  # positioned at the end before we produce: no group join to wait for
    produce(settings, "it-fac-bad", b"{not json " + marker)
    entry = wait_until(lambda: dlq.matching(lambda r: marker in r.value), timeout_s=60,
                       what="the malformed record in the readings DLQ")[0]
    assert header(entry, "reason")[0].startswith(b"value is not JSON")
    assert http_ok(f"http://{settings.host}:{settings.beam_job_port}/healthz")


def test_a_minute_stays_exact_when_readings_are_added_repeated_and_corrected(settings: Settings) -> None:
    # Each step waits for the previous one, so each is its own run: the first two add to the stored
    # minute (new readings), the third repeats one reading and corrects another (the minute is recomputed).
    facility_id = f"it-fac-{uuid.uuid4().hex[:12]}"
    minute_ms = (int(time.time() * 1000) // 60_000 - 2) * 60_000

    def send(*readings: tuple[str, int, float]) -> None:
        rows_ = [{"meter_id": m, "ts_ms": minute_ms + s * 1000, "kw": kw, "kwh": None, "seq": None}
                 for m, s, kw in readings]
        produce(settings, facility_id, json.dumps({"v": 1, "facility_id": facility_id, "readings": rows_}).encode())

    def minute_is(readings: int, kw_avg: float) -> None:
        where = f"WHERE facility_id = '{facility_id}'"
        wait_until(lambda: [r for r in rows(settings, f"SELECT * FROM facility_load_1m {where}")
                            if r["readings"] == readings and r["kw_avg"] == kw_avg],
                   timeout_s=60, what=f"the facility minute with {readings} readings at {kw_avg} kW")

    send(("a", 1, 10.0), ("a", 16, 20.0), ("b", 5, 4.0))
    minute_is(3, 15.0 + 4.0)
    send(("a", 31, 30.0))
    minute_is(4, 20.0 + 4.0)
    send(("a", 16, 20.0), ("b", 5, 8.0))  # a repeat and a correction: still 4 readings, meter b now 8 kW
    minute_is(4, 20.0 + 8.0)
    meters = {r["meter_id"]: r for r in rows(
        settings, f"SELECT meter_id, readings, kw_sum, kw_avg, last_ts FROM meter_load_1m "
                  f"WHERE facility_id = '{facility_id}'")}
    assert (meters["a"]["readings"], meters["a"]["kw_sum"], meters["b"]["kw_sum"]) == (3, 60.0, 8.0)
    assert meters["a"]["last_ts"].startswith(time.strftime("%Y-%m-%dT%H:%M:31", time.gmtime(minute_ms / 1000)))
