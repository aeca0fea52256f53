"""The DR sensors: inbox rows and event ends become dispatch / release runs; due reports a delivery run.

Every few seconds it reads inbox rows past its cursor. An update schedules the event's
dispatch (`run_key` = event id + revision, requested `dr_dispatch_lead_s` before the start);
a cancellation requests `dr_release` at once; an active event past its end requests
`dr_release` too. The JSON cursor holds the last inbox id and the events waiting for their
start, so nothing is requested twice and nothing is forgotten between ticks.

The outbox sensor requests a delivery run whenever unacknowledged reports are due; its
`run_key` names the due rows with their attempt count and due time, so a tick never asks
twice for the same attempt, while an attempt whose run died (its lease expires, moving the
due time) is asked for again.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy import text

from pipelines.dr import report
from pipelines.dr.jobs import dr_dispatch, dr_release, dr_report_delivery
from pipelines.resources import PostgresResource
from sems.settings import get_settings


def run_config(op: str, event_id: str, **extra: str) -> dict[str, Any]:
    return {"ops": {op: {"config": {"event_id": event_id, **extra}}}}

def decide(cursor: dict[str, Any], inbox: list[dict[str, Any]], ended: list[str], now: datetime,
           lead_s: float, open_ids: set[str], active_ids: frozenset[str] = frozenset(),
           ) -> tuple[list[RunRequest], dict[str, Any]]:
    """The run requests for this tick and the next cursor (a pure function: the sensor's logic).

    `open_ids`: the events still waiting for dispatch (received/planned/dispatching) or active
    (an update of an active event is dispatched at once: the saga re-plans it); others
    (cancelled, failed, completed) leave the waiting list without a run.
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
        if event_id in active_ids or datetime.fromisoformat(entry["starts_at"]) - timedelta(seconds=lead_s) <= now:
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
        statuses: dict[str, str] = dict(conn.execute(text(
            "SELECT event_id, status FROM dr_events WHERE event_id = ANY(:ids)"
            " AND status IN ('received', 'planned', 'dispatching', 'active')"), {"ids": waiting}).all())
    requests, next_cursor = decide(cursor, inbox, ended, datetime.now(UTC), get_settings().dr_dispatch_lead_s,
                                   set(statuses), frozenset(e for e, status in statuses.items() if status == "active"))
    if not requests and next_cursor == cursor:
        return SkipReason(f"no new inbox rows after id {cursor.get('inbox_id', 0)}, "
                          f"{len(next_cursor['scheduled'])} event(s) waiting for their start")
    return SensorResult(run_requests=requests, cursor=json.dumps(next_cursor))


@sensor(job=dr_report_delivery, minimum_interval_seconds=get_settings().dr_outbox_interval_s,
        default_status=DefaultSensorStatus.RUNNING)
def dr_outbox_sensor(context: SensorEvaluationContext, postgres: PostgresResource) -> RunRequest | SkipReason:
    """Keeps delivering DR reports to the utilities, with backoff, until each one is acknowledged."""
    with postgres.transaction() as conn:
        due = report.due(conn, get_settings().dr_outbox_grace_s)
    if not due:
        return SkipReason("no DR report is due for delivery")
    key = ",".join(f"{r['id']}/{r['attempts']}/{r['next_attempt_at']:%Y%m%dT%H%M%S.%f}" for r in due)
    return RunRequest(run_key=f"outbox:{key}", tags={"dr/reports": str(len(due))})
