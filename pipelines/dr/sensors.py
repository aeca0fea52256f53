"""The DR inbox sensor: new inbox rows and ending events become `dr_dispatch` / `dr_release` runs.

Every few seconds it reads inbox rows past its cursor. An update schedules the event's
dispatch (`run_key` = event id + revision, requested `dr_dispatch_lead_s` before the start);
a cancellation requests `dr_release` at once; an active event past its end requests
`dr_release` too. The JSON cursor holds the last inbox id and the events waiting for their
start, so nothing is requested twice and nothing is forgotten between ticks.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy import text

from pipelines.dr.jobs import dr_dispatch, dr_release
from pipelines.resources import PostgresResource
from sems.settings import get_settings


def run_config(op: str, event_id: str, **extra: str) -> dict[str, Any]:
    return {"ops": {op: {"config": {"event_id": event_id, **extra}}}}

def decide(cursor: dict[str, Any], inbox: list[dict[str, Any]], ended: list[str], now: datetime,
           lead_s: float, open_ids: set[str]) -> tuple[list[RunRequest], dict[str, Any]]:
    """The run requests for this tick and the next cursor (a pure function: the sensor's logic).

    `open_ids`: the events still waiting for dispatch (received/planned/dispatching); others
    (cancelled, failed, already running) leave the waiting list without a run.
    """
    scheduled: dict[str, Any] = dict(cursor.get("scheduled", {}))
    requests: list[RunRequest] = []
    for row in inbox:
        if row["operation"] == "cancel":
            scheduled.pop(row["event_id"], None)
            requests.append(RunRequest(run_key=f"{row['event_id']}:{row['revision']}:release", job_name="dr_release",
                                       run_config=run_config("release_dr_event", row["event_id"], reason="cancelled"),
                                       tags={"dr/event_id": row["event_id"]}))
        else:
            scheduled[row["event_id"]] = {"revision": row["revision"], "starts_at": row["starts_at"].isoformat()}
    scheduled = {e: entry for e, entry in scheduled.items() if e in open_ids}
    for event_id, entry in sorted(scheduled.items()):
        if datetime.fromisoformat(entry["starts_at"]) - timedelta(seconds=lead_s) <= now:
            del scheduled[event_id]
            requests.append(RunRequest(run_key=f"{event_id}:{entry['revision']}", job_name="dr_dispatch",
                                       run_config=run_config("dispatch_dr_event", event_id),
                                       tags={"dr/event_id": event_id}))
    for event_id in ended:
        requests.append(RunRequest(run_key=f"{event_id}:end", job_name="dr_release",
                                   run_config=run_config("release_dr_event", event_id, reason="ended"),
                                   tags={"dr/event_id": event_id}))
    last = max([cursor.get("inbox_id", 0), *(r["id"] for r in inbox)])
    return requests, {"inbox_id": last, "scheduled": scheduled}

@sensor(jobs=[dr_dispatch, dr_release], minimum_interval_seconds=get_settings().dr_sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING)
def dr_inbox_sensor(context: SensorEvaluationContext, postgres: PostgresResource) -> SensorResult | SkipReason:
    """Turns accepted DR events into dispatch runs, and cancellations and event ends into release runs."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    with postgres.transaction() as conn:
        inbox = [dict(r._mapping) for r in conn.execute(text(
            "SELECT i.id, i.event_id, i.revision, i.operation, e.starts_at FROM dr_inbox i"
            " JOIN dr_events e USING (event_id) WHERE i.id > :after ORDER BY i.id LIMIT 500"),
            {"after": cursor.get("inbox_id", 0)})]
        ended = list(conn.execute(text("SELECT event_id FROM dr_events WHERE status = 'active'"
                                       " AND ends_at <= now() ORDER BY event_id")).scalars())
        waiting = [*cursor.get("scheduled", {}), *(r["event_id"] for r in inbox)]
        open_ids = set(conn.execute(text("SELECT event_id FROM dr_events WHERE event_id = ANY(:ids)"
                                         " AND status IN ('received', 'planned', 'dispatching')"),
                                    {"ids": waiting}).scalars())
    requests, next_cursor = decide(cursor, inbox, ended, datetime.now(UTC), get_settings().dr_dispatch_lead_s,
                                   open_ids)
    if not requests and next_cursor == cursor:
        return SkipReason(f"no new inbox rows after id {cursor.get('inbox_id', 0)}, "
                          f"{len(next_cursor['scheduled'])} event(s) waiting for their start")
    return SensorResult(run_requests=requests, cursor=json.dumps(next_cursor))
