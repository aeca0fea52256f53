"""The Dagster jobs around the saga, executed in process against the stack's PostgreSQL, BMS and QuestDB."""

from __future__ import annotations

from sqlalchemy import Engine

from apps.api.dr.status import event_status
from pipelines.dr.jobs import dr_dispatch, dr_release
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import Settings
from tests.pipelines.dr.conftest import make_event
from tests.sems.bms.conftest import bms_state


def test_dispatch_then_release_jobs_run_the_saga_and_verify(settings: Settings, engine: Engine) -> None:
    resources = {"postgres": PostgresResource.from_settings(settings),
                 "questdb": QuestDBResource.from_settings(settings)}
    before = bms_state(settings, "fac-004")
    event_id = make_event(engine, ["fac-004"])
    dispatched = dr_dispatch.execute_in_process(
        run_config={"ops": {"dispatch_dr_event": {"config": {"event_id": event_id}}}}, resources=resources)
    assert dispatched.output_for_node("dispatch_dr_event") == "active"
    released = dr_release.execute_in_process(
        run_config={"ops": {"release_dr_event": {"config": {"event_id": event_id, "reason": "ended"}}}},
        resources=resources)
    assert released.output_for_node("release_dr_event") == "completed"
    status = event_status(engine, event_id)
    assert status is not None
    transitions = [a["transition"] for a in status["audit"]]
    assert "verified" in transitions and "report skipped" in transitions  # no callback URL for this utility
    assert bms_state(settings, "fac-004")["lighting_level"] == before["lighting_level"]
