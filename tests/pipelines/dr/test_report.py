"""Background report delivery: the outbox sensor and job against a utility that fails, then acknowledges."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from dagster import RunRequest, SkipReason, build_sensor_context
from sqlalchemy import Engine, text

from pipelines.dr.jobs import dr_report_delivery
from pipelines.dr.report import deliver, enqueue
from pipelines.dr.sensors import dr_outbox_sensor
from pipelines.resources import PostgresResource
from sems.settings import Settings
from tests.pipelines.dr.conftest import make_event
from tests.pipelines.dr.utility import Utility
from tests.support import wait_until


@pytest.fixture
def flaky_utility(settings: Settings) -> Iterator[Utility]:
    """Answers 503 twice, then 201."""
    server = Utility(settings.host, failures=2)
    yield server
    server.close()


def _outbox(engine: Engine, event_id: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, attempts, last_error, delivered_at, next_attempt_at > now() AS backing_off"
                                " FROM dr_outbox WHERE event_id = :eid"), {"eid": event_id}).one()
    return dict(row._mapping)


def _sensor_keys(settings: Settings) -> str:
    result = dr_outbox_sensor(build_sensor_context(resources={"postgres": PostgresResource.from_settings(settings)}))
    assert isinstance(result, RunRequest | SkipReason)
    return (result.run_key or "") if isinstance(result, RunRequest) else ""


def test_reports_are_retried_with_backoff_until_the_utility_acknowledges(
    settings: Settings, engine: Engine, flaky_utility: Utility,
) -> None:
    event_id = make_event(engine, ["fac-001"], callback_url=flaky_utility.url)
    measured: dict[str, dict[str, Any]] = {"fac-001": {"intervals": []}}
    assert enqueue(engine, settings, event_id, measured) == flaky_utility.url
    row = _outbox(engine, event_id)
    # New: the release run that queued it sends it; the sensor only takes over after the grace period.
    assert f"{row['id']}/" not in _sensor_keys(settings)

    run = dr_report_delivery.execute_in_process(resources={"postgres": PostgresResource.from_settings(settings)})
    assert run.success
    row = _outbox(engine, event_id)
    assert row["attempts"] == 1 and row["delivered_at"] is None and row["backing_off"]
    assert "503" in str(row["last_error"])
    assert f"{row['id']}/" not in _sensor_keys(settings)  # backing off: no run asked for it
    (report,) = flaky_utility.received
    assert report["objectType"] == "REPORT" and report["eventID"] == event_id

    # The 30 s backoff has passed (moved, not waited for): due again, the sensor asks for a delivery run.
    with engine.begin() as conn:
        conn.execute(text("UPDATE dr_outbox SET next_attempt_at = now() WHERE id = :id"), {"id": row["id"]})
    assert f"{row['id']}/1/" in _sensor_keys(settings)
    # Later attempts back off 0.2 s, 0.4 s, ... (the stack's own sensor may take one of them: it claims the row too).
    fast = settings.model_copy(update={"dr_outbox_backoff_s": 0.1})

    def acknowledged() -> object:
        deliver(engine, fast)
        return _outbox(engine, event_id)["delivered_at"]

    wait_until(acknowledged, timeout_s=150, what="the utility to acknowledge the report")
    row = _outbox(engine, event_id)
    assert row["attempts"] == 3 and flaky_utility.answers == [503, 503, 201]
    assert f"{row['id']}/" not in _sensor_keys(settings)  # acknowledged: never sent again
    with engine.connect() as conn:
        trail = list(conn.execute(text("SELECT transition FROM dr_audit_log WHERE event_id = :eid AND actor ="
                                       " 'reporter' ORDER BY id"), {"eid": event_id}).scalars())
    assert trail == ["report queued", "report delivery failed", "report delivery failed", "report acknowledged"]


def test_concurrent_deliveries_post_a_report_once(settings: Settings, engine: Engine, utility: Utility) -> None:
    event_id = make_event(engine, ["fac-001"], callback_url=utility.url)
    enqueue(engine, settings, event_id, {"fac-001": {"intervals": []}})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: deliver(engine, settings), range(4)))
    assert [r["eventID"] for r in utility.received].count(event_id) == 1
