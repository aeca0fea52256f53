"""End to end through the running stack: signed webhook -> sensor in the Dagster daemon -> dispatch run ->
signed cancellation -> release run, devices restored."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from dagster import DagsterInstance, RunsFilter

from apps.api.dr.signatures import sign
from sems.settings import Settings
from sems.stack.dagster import dagster_home
from tests.sems.bms.conftest import bms_state
from tests.support import wait_until


def _post(settings: Settings, document: dict[str, Any]) -> httpx.Response:
    body, webhook_id, ts = json.dumps(document).encode(), f"msg_{uuid.uuid4().hex}", int(time.time())
    secret = next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    return httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=body, timeout=10.0,
                      headers={"webhook-id": webhook_id, "webhook-timestamp": str(ts),
                               "webhook-signature": sign(secret, webhook_id, ts, body)})


def _status(settings: Settings, event_id: str) -> str:
    response = httpx.get(f"http://{settings.host}:{settings.api_port}/v1/dr/events/{event_id}", timeout=10.0)
    return str(response.json()["status"])


def test_a_signed_event_is_dispatched_by_the_daemon_and_released_on_cancellation(settings: Settings) -> None:
    before = bms_state(settings, "fac-005")
    start = datetime.now(UTC)
    event_id = f"live-{uuid.uuid4().hex[:10]}"
    event: dict[str, Any] = {"event_id": event_id, "facility_ids": ["fac-005"], "start": start.isoformat(),
             "end": (start + timedelta(hours=1)).isoformat(), "target_reduction_kw": 40.0}
    assert _post(settings, event).status_code == 202

    settled = wait_until(lambda: (s := _status(settings, event_id)) not in ("received", "planned",
                                                                                     "dispatching") and s,
                         timeout_s=180, interval_s=1.0, what="the daemon's dispatch run")
    assert settled == "active"
    assert bms_state(settings, "fac-005")["lighting_level"] < before["lighting_level"]

    assert _post(settings, {**event, "revision": 1, "status": "cancelled"}).status_code == 202
    wait_until(lambda: _status(settings, event_id) == "completed", timeout_s=180, interval_s=1.0,
               what="the release run after the cancellation")
    after = bms_state(settings, "fac-005")
    assert (after["lighting_level"], after["hvac_setpoint_offset_c"]) == (
        before["lighting_level"], before["hvac_setpoint_offset_c"])
    with DagsterInstance.from_config(str(dagster_home(settings))) as instance:
        runs = instance.get_runs(RunsFilter(tags={"dr/event_id": event_id}))
    assert sorted(r.job_name for r in runs) == ["dr_dispatch", "dr_release"]
