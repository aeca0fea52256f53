"""Event revisions: an update of an active event re-plans it at once; a cancellation releases everything it changed."""

from __future__ import annotations

import json

from dagster import SensorResult, build_sensor_context
from sqlalchemy import Engine, text

from apps.api.dr.status import event_status
from pipelines.dr.saga import Saga
from pipelines.dr.sensors import dr_inbox_sensor
from pipelines.resources import PostgresResource
from sems.settings import Settings
from tests.pipelines.dr.conftest import make_event
from tests.sems.bms.conftest import bms_state

POINTS = ("lighting_level", "hvac_setpoint_offset_c")


def _sensor_runs(settings: Settings, after_inbox_id: int, event_id: str) -> list[tuple[str, str]]:
    context = build_sensor_context(cursor=json.dumps({"inbox_id": after_inbox_id, "scheduled": {}}),
                                   resources={"postgres": PostgresResource.from_settings(settings)})
    result = dr_inbox_sensor(context)
    assert isinstance(result, SensorResult)
    return [(r.job_name or "", r.run_key or "") for r in result.run_requests or [] if r.tags["dr/event_id"] == event_id]


def _last_inbox_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM dr_inbox")).scalar_one())


def test_update_replans_active_facilities_and_cancellation_restores_the_originals(
    saga: Saga, engine: Engine, settings: Settings,
) -> None:
    before = {f: {p: bms_state(settings, f)[p] for p in POINTS} for f in ("fac-001", "fac-002")}
    event_id = make_event(engine, ["fac-001", "fac-002"], target_kw=4.0)  # a little: lighting only
    assert saga.dispatch(event_id) == "active"
    first = {p: bms_state(settings, "fac-001")[p] for p in POINTS}

    inbox_id = _last_inbox_id(engine)
    # Revision 1: fac-001 alone, as much as it can give; although the event starts tomorrow, it is active: re-plan now.
    make_event(engine, ["fac-001"], target_kw=5000.0, event_id=event_id, revision=1)
    assert _sensor_runs(settings, inbox_id, event_id) == [("dr_dispatch", f"{event_id}:1")]
    assert saga.dispatch(event_id) == "active"
    status = event_status(engine, event_id)
    assert status is not None
    states = {f["facility_id"]: f for f in status["facilities"]}
    assert states["fac-002"]["state"] == "completed"  # no longer named: released
    assert {p: bms_state(settings, "fac-002")[p] for p in POINTS} == before["fac-002"]
    plan = states["fac-001"]["plan"]
    assert states["fac-001"]["state"] == "active" and plan["target_kw"] > 4.0
    now = {p: bms_state(settings, "fac-001")[p] for p in POINTS}
    assert now == {"lighting_level": plan["lighting_level"], "hvac_setpoint_offset_c": plan["hvac_offset_c"]}
    assert now != first
    replanned = [c for c in status["commands"] if c["idempotency_key"].endswith("@r1")]
    assert replanned and all(c["state"] == "confirmed" for c in replanned)
    # Only the devices whose value changed were commanded again, each once.
    assert {c["point"] for c in replanned} == {p for p in POINTS if now[p] != first[p]}
    counts = bms_state(settings, "fac-001")["apply_counts"]
    assert all(counts[c["idempotency_key"]] == 1 for c in replanned)
    assert saga.dispatch(event_id) == "active"  # the same revision again: nothing more

    inbox_id = _last_inbox_id(engine)
    make_event(engine, ["fac-001"], event_id=event_id, revision=2, status="cancelled")
    assert _sensor_runs(settings, inbox_id, event_id) == [("dr_release", f"{event_id}:2:release")]
    assert saga.release(event_id, reason="cancelled") == "completed"
    # Back to the values before the event's first command, not to revision 0's targets.
    assert {p: bms_state(settings, "fac-001")[p] for p in POINTS} == before["fac-001"]
    restores = [c for c in event_status(engine, event_id)["commands"]  # type: ignore[index]
                if c["facility_id"] == "fac-001" and c["action"] == "restore"]
    assert sorted(c["point"] for c in restores) == sorted({c["point"] for c in status["commands"]
                                                          if c["facility_id"] == "fac-001"})
