"""A saga stopped at any step resumes from PostgreSQL: after planning, killed mid-dispatch, killed mid-release;
nothing commanded twice, nothing unrecorded, every device restored."""

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


def test_killed_mid_release_resumes_and_restores_every_device_once(
    saga: Saga, engine: Engine, settings: Settings, inject_fault: Inject,
) -> None:
    before = bms_state(settings, "fac-003")
    event_id = make_event(engine, ["fac-002", "fac-003"])
    assert saga.dispatch(event_id) == "active"
    # fac-003 restores its first device but the answer never arrives: the release is stuck mid-command.
    inject_fault("fac-003", "lost_response", count=1)
    env = {**os.environ, "SEMS_BMS_READ_TIMEOUT_S": "600", "SEMS_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "pipelines.dr", "release", event_id], env=env,
                               start_new_session=True)
    try:
        stuck = wait_until(lambda: _stuck_restore(engine, settings, event_id), timeout_s=120,
                           what="fac-003's first restore applied and recorded as sending")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    httpx.delete(f"http://{settings.host}:{settings.bms_port}/faults/fac-003", timeout=5.0)

    assert saga.release(event_id, reason="ended") == "completed"
    commands = _commands(engine, event_id)
    restores = [key for key in commands if key.endswith("/restore")]
    assert stuck in restores and {commands[key] for key in restores} == {"confirmed"}
    for key in restores:
        facility_id = key.split("/")[1]
        assert bms_state(settings, facility_id)["apply_counts"][key] == 1, key  # never restored twice
    after = bms_state(settings, "fac-003")
    assert (after["lighting_level"], after["hvac_setpoint_offset_c"]) == (
        before["lighting_level"], before["hvac_setpoint_offset_c"])


def _stuck_restore(engine: Engine, settings: Settings, event_id: str) -> str | None:
    applied = bms_state(settings, "fac-003")["apply_counts"]
    sending = [key for key, state in _commands(engine, event_id).items()
               if state == "sending" and key.startswith(f"{event_id}/fac-003/") and key.endswith("/restore")]
    return next((key for key in sending if applied.get(key) == 1), None)


def test_a_saga_that_stopped_after_planning_resumes_with_that_plan(
    saga: Saga, engine: Engine, settings: Settings,
) -> None:
    event_id = make_event(engine, ["fac-001", "fac-002"])
    # What a process killed right after the planning transaction leaves behind (no hook can kill it at
    # exactly that commit): the event planned, its plan rows written, no command recorded yet.
    saga._plan(saga._event(event_id))  # noqa: SLF001
    assert saga._event(event_id)["status"] == "planned" and not _commands(engine, event_id)  # noqa: SLF001

    assert saga.dispatch(event_id) == "active"
    commands = _commands(engine, event_id)
    assert commands and set(commands.values()) == {"confirmed"}
    for key in commands:
        assert bms_state(settings, key.split("/")[1])["apply_counts"][key] == 1, key
    with engine.connect() as conn:
        plans = conn.execute(text("SELECT count(*) FROM dr_audit_log WHERE event_id = :e"
                                  " AND transition = 'event -> planned'"), {"e": event_id}).scalar_one()
    assert plans == 1  # planned once: the resumed saga kept the plan rather than planning again
    assert saga.release(event_id, reason="ended") == "completed"
