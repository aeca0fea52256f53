"""Reporting achieved reduction to the utility: OpenADR 3 REPORT objects through an outbox, retried until acknowledged.

The report is written to `dr_outbox` in one transaction with its audit row; `deliver`
POSTs every unacknowledged report (timeout, bounded retry) and marks it delivered on a 2xx,
or counts the attempt and keeps the reason, so the next run tries again.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import Engine, text

from pipelines.dr import store
from sems.resilience import retry
from sems.settings import Settings


def report_document(event: dict[str, Any], measured: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenADR 3 report: per facility, one interval with BASELINE and DELTA_USAGE (kW; negative = reduced)."""
    duration_s = int((event["ends_at"] - event["starts_at"]).total_seconds())
    period = {"start": event["starts_at"].isoformat(), "duration": f"PT{duration_s}S"}
    resources = [{"resourceName": fid, "intervalPeriod": period, "intervals": [{"id": 0, "payloads": [
        {"type": "BASELINE", "values": [m["baseline_kw"]]},
        {"type": "DELTA_USAGE", "values": [None if m["achieved_kw"] is None else -m["achieved_kw"]]}]}]}
        for fid, m in sorted(measured.items())]
    return {"objectType": "REPORT", "eventID": event["event_id"], "clientName": "sems",
            "reportName": f"{event['event_id']} achieved reduction", "resources": resources}


def enqueue(engine: Engine, settings: Settings, event_id: str, measured: dict[str, dict[str, Any]]) -> str | None:
    """Put the event's report in the outbox for its callback URL; None if the utility gave none."""
    with engine.begin() as conn:
        event = store.load_event(conn, event_id)
        assert event is not None
        url = event["callback_url"] or settings.dr_utility_callbacks.get(event["utility_id"])
        if not url:
            store.audit(conn, event_id, "reporter", "report skipped", reason="no callback URL for the utility")
            return None
        conn.execute(text("INSERT INTO dr_outbox (event_id, kind, destination, payload) VALUES (:eid, 'report',"
                          " :url, CAST(:doc AS jsonb)) ON CONFLICT ON CONSTRAINT dr_outbox_once DO UPDATE"
                          " SET payload = EXCLUDED.payload, delivered_at = NULL"),
                     {"eid": event_id, "url": url, "doc": json.dumps(report_document(event, measured), default=str)})
        store.audit(conn, event_id, "reporter", "report queued", destination=url)
    return url


def deliver(engine: Engine, settings: Settings) -> int:
    """POST every unacknowledged report; how many were acknowledged now."""
    with engine.begin() as conn:
        pending = [dict(r._mapping) for r in conn.execute(text(
            "SELECT id, event_id, destination, payload FROM dr_outbox WHERE delivered_at IS NULL ORDER BY id"))]
    delivered = 0
    for item in pending:
        def post(item: dict[str, Any] = item) -> None:
            response = httpx.post(item["destination"], json=item["payload"], timeout=settings.dr_callback_timeout_s)
            response.raise_for_status()

        error = None
        try:
            retry(post, attempts=3, retry_on=(httpx.HTTPError,), base_delay_s=0.5, max_delay_s=2.0)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with engine.begin() as conn:
            conn.execute(text("UPDATE dr_outbox SET attempts = attempts + 1, last_error = CAST(:err AS text),"
                              " delivered_at = CASE WHEN CAST(:err AS text) IS NULL THEN now() END WHERE id = :id"),
                         {"err": error, "id": item["id"]})
            store.audit(conn, item["event_id"], "reporter", "report acknowledged" if error is None
                        else "report delivery failed", destination=item["destination"], error=error)
        delivered += error is None
    return delivered
