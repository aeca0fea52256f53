"""The DR saga against real PostgreSQL and the SOAP BMS simulator: dispatch, release, compensation, audit."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from apps.api import dev_issuer
from apps.api.dr.status import event_status
from pipelines.dr.saga import Saga
from sems.settings import Settings
from tests.pipelines.dr.conftest import Inbox, make_event
from tests.sems.bms.conftest import Inject, bms_state


def test_dispatch_commands_confirms_and_release_restores(saga: Saga, engine: Engine, settings: Settings) -> None:
    before = {f: bms_state(settings, f) for f in ("fac-001", "fac-002")}
    event_id = make_event(engine, ["fac-001", "fac-002"])
    assert saga.dispatch(event_id) == "active"
    status = event_status(engine, event_id)
    assert status is not None
    assert {f["state"] for f in status["facilities"]} == {"active"}
    applies = [c for c in status["commands"] if c["action"] == "apply"]
    assert applies and all(c["state"] == "confirmed" for c in applies)
    for command in applies:
        state = bms_state(settings, command["facility_id"])
        assert state[command["point"]] == command["target_value"]
        assert command["prior_value"] == before[command["facility_id"]][command["point"]]
        assert state["apply_counts"][command["idempotency_key"]] == 1
    assert saga.dispatch(event_id) == "active"  # a second run commands nothing again
    assert saga.release(event_id, reason="ended") == "completed"
    for facility_id, prior in before.items():
        after = bms_state(settings, facility_id)
        assert (after["lighting_level"], after["hvac_setpoint_offset_c"]) == (
            prior["lighting_level"], prior["hvac_setpoint_offset_c"])
    transitions = [a["transition"] for a in event_status(engine, event_id)["audit"]]  # type: ignore[index]
    for step in ("event -> planned", "event -> dispatching", "event -> active", "event -> releasing",
                 "event -> completed"):
        assert step in transitions


def test_a_facility_that_refuses_commands_is_compensated_and_its_manager_mailed(
    saga: Saga, engine: Engine, settings: Settings, inject_fault: Inject, mail: Inbox,
) -> None:
    event_id = make_event(engine, ["fac-003", "fac-004"])
    inject_fault("fac-004", "soap_fault")
    assert saga.dispatch(event_id) == "active"
    states = {f["facility_id"]: f for f in event_status(engine, event_id)["facilities"]}  # type: ignore[index]
    assert states["fac-003"]["state"] == "active"
    assert states["fac-004"]["state"] == "compensated" and "injected SOAP fault" in states["fac-004"]["error"]
    assert bms_state(settings, "fac-004")["lighting_level"] == 1.0  # nothing left overridden
    subjects = [m["Subject"] for m in mail.messages]
    assert f"[SEMS DR {event_id}] fac-004: dispatch failed" in subjects
    # The manager's notice, for the UI, from the running API with a token for the facility (and none without).
    url = f"http://{settings.host}:{settings.api_port}/v1/dr/facilities/fac-004/notices"
    manager = dev_issuer.mint(settings, ["fac-004"], subject="test-manager")
    response = httpx.get(url, headers={"Authorization": f"Bearer {manager}"}, timeout=10.0)
    assert response.status_code == 200, response.text
    (notice,) = [n for n in response.json() if n["event_id"] == event_id]
    assert (notice["state"], notice["subject"], notice["emailed"]) == ("compensated", "dispatch failed", True)
    assert "injected SOAP fault" in notice["error"]
    stranger = dev_issuer.mint(settings, ["fac-003"], subject="test-other-manager")
    assert httpx.get(url, headers={"Authorization": f"Bearer {stranger}"}, timeout=10.0).status_code == 403
    assert saga.release(event_id, reason="cancelled") == "completed"


def test_every_facility_failing_ends_compensated(saga: Saga, engine: Engine, inject_fault: Inject) -> None:
    event_id = make_event(engine, ["fac-005"])
    inject_fault("fac-005", "http500")
    assert saga.dispatch(event_id) == "compensated"


def test_cancellation_before_dispatch_commands_nothing(saga: Saga, engine: Engine) -> None:
    event_id = make_event(engine, ["fac-001"])
    assert saga.release(event_id, reason="cancelled") == "cancelled"
    assert saga.dispatch(event_id) == "cancelled"
    assert event_status(engine, event_id)["commands"] == []  # type: ignore[index]


def test_the_audit_log_refuses_rewrites(engine: Engine) -> None:
    event_id = make_event(engine, ["fac-001"])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE dr_audit_log SET actor = 'x' WHERE event_id = :e"), {"e": event_id})
