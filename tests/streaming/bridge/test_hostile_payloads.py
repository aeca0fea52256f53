"""Malformed, huge and hostile payloads thrown at the running bridge over MQTT (hypothesis).

Every one must land in `sensor-readings.dlq` with a reason (found by its MQTT 5 trace id),
and the bridge must stay alive and keep bridging.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sems.settings import Settings
from tests.support import TopicTail, header, wait_until

NOT_A_NUMBER = st.one_of(st.text(max_size=20), st.none(), st.booleans(), st.lists(st.integers(), max_size=3))
HOSTILE = st.one_of(
    st.binary(max_size=2048).filter(lambda b: not b.strip().startswith(b"{")),  # not a JSON object
    st.builds(lambda kw: json.dumps({"ts": 1_764_000_000_000, "kw": kw}).encode(), NOT_A_NUMBER),
    st.sampled_from([b'{"ts": 1764000000000, "kw": NaN}', b'{"ts": 1764000000000, "kw": 1e400}',
                     b'{"ts": -5, "kw": 1}', b'{"ts": 99999999999999999, "kw": 1}']),
    st.integers(min_value=1, max_value=200).map(lambda depth: b"[" * depth * 50 + b"]" * depth * 50),
    st.just(b'{"ts": 1764000000000, "kw": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'),  # over the limit
)


def test_every_hostile_payload_lands_in_the_dlq_and_the_bridge_stays_up(
    settings: Settings, tail: Callable[[str], TopicTail], device: Callable[..., None], facility_id: str
) -> None:
    dlq = tail(settings.kafka_readings_dlq_topic)
    topic = f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{facility_id}-hostile"
    sent: list[str] = []

    @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=HOSTILE)
    def publish(payload: bytes) -> None:
        trace_id = uuid.uuid4().hex
        device(topic, payload, trace_id=trace_id)
        sent.append(trace_id)

    publish()

    def reasons() -> dict[str, str]:
        records = dlq.matching(lambda r: True)
        found = {header(r, "trace_id")[0].decode(): json.loads(r.value)["reason"] for r in records}
        return {t: found[t] for t in sent if t in found}

    wait_until(lambda: len(reasons()) == len(sent), timeout_s=60, what=f"all {len(sent)} hostile payloads in the DLQ")
    landed = reasons()
    assert all(reason and ":" in reason for reason in landed.values()), landed
    health = httpx.get(f"http://{settings.host}:{settings.bridge_port}/healthz", timeout=5)
    assert health.status_code == 200
