"""A saga process killed mid-dispatch resumes from PostgreSQL: nothing commanded twice, nothing unrecorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
from sqlalchemy import Engine, text

from pipelines.dr.saga import Saga
from sems.settings import Settings
from tests.pipelines.dr.conftest import make_event
from tests.sems.bms.conftest import Inject, bms_state
from tests.support import wait_until


def _commands(engine: Engine, event_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT idempotency_key, state FROM dr_bms_commands WHERE event_id = :e"),
                            {"e": event_id})
        return {r.idempotency_key: r.state for r in rows}


def test_killed_mid_dispatch_resumes_without_commanding_twice(
    saga: Saga, engine: Engine, settings: Settings, inject_fault: Inject,
) -> None:
    before = bms_state(settings, "fac-003")
    event_id = make_event(engine, ["fac-001", "fac-002", "fac-003"])
    # fac-003 applies the first command but its answer never arrives: the process is stuck mid-command.
    inject_fault("fac-003", "lost_response", count=1)
    env = {**os.environ, "SEMS_BMS_READ_TIMEOUT_S": "600", "SEMS_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "pipelines.dr", "dispatch", event_id], env=env,
                               start_new_session=True)
    try:
        stuck_key = f"{event_id}/fac-003/lighting_level/apply"
        wait_until(lambda: _commands(engine, event_id).get(stuck_key) == "sending"
                   and bms_state(settings, "fac-003")["apply_counts"].get(stuck_key) == 1,
                   timeout_s=120, what="fac-003's first command applied and recorded as sending")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    httpx.delete(f"http://{settings.host}:{settings.bms_port}/faults/fac-003", timeout=5.0)

    assert saga.dispatch(event_id) == "active"
    commands = _commands(engine, event_id)
    assert commands and set(commands.values()) == {"confirmed"}
    for key in commands:
        facility_id = key.split("/")[1]
        assert bms_state(settings, facility_id)["apply_counts"][key] == 1, key
    assert saga.release(event_id, reason="ended") == "completed"
    after = bms_state(settings, "fac-003")
    assert (after["lighting_level"], after["hvac_setpoint_offset_c"]) == (
        before["lighting_level"], before["hvac_setpoint_offset_c"])
