"""Reporting achieved reduction to the utility: OpenADR 3 REPORT objects through an outbox, retried until acknowledged.

The report is written to `dr_outbox` in one transaction with its audit row; `deliver`
POSTs every due unacknowledged report and marks it delivered on a 2xx, or counts the attempt,
keeps the reason and schedules the next attempt with exponential backoff. The Dagster sensor
`dr_outbox_sensor` requests a `dr_report_delivery` run whenever reports are due, so delivery
keeps going in the background until the utility acknowledges.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text

from pipelines.dr import store
from sems.settings import Settings


def _period(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "duration": f"PT{int((end - start).total_seconds())}S"}


def report_document(event: dict[str, Any], measured: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenADR 3 report: per facility and interval, BASELINE and DELTA_USAGE (kW; negative = reduced).

    BASELINE is the facility's reported baseline (`measured[...]["method"]`, see `verify`); an
    interval without meter data or baseline carries nulls rather than a made-up figure.
    """
    resources = []
    for fid, m in sorted(measured.items()):
        intervals = [{"id": n, "intervalPeriod": _period(row["starts_at"], row["ends_at"]), "payloads": [
            {"type": "BASELINE", "values": [row["baseline_kw"]]},
            {"type": "DELTA_USAGE", "values": [None if row["achieved_kw"] is None else -row["achieved_kw"]]}]}
            for n, row in enumerate(m["intervals"])]
        resources.append({"resourceName": fid, "intervalPeriod": _period(event["starts_at"], event["ends_at"]),
                          "intervals": intervals})
    return {"objectType": "REPORT", "eventID": event["event_id"], "clientName": "sems",
            "reportName": f"{event['event_id']} achieved reduction",
            "payloadDescriptors": [
                {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "BASELINE", "readingType": "ESTIMATED",
                 "units": "KW"},
                {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "DELTA_USAGE", "readingType": "MEAN",
                 "units": "KW"}],
            "resources": resources}


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
                          " SET payload = EXCLUDED.payload, delivered_at = NULL, next_attempt_at = now()"),
                     {"eid": event_id, "url": url, "doc": json.dumps(report_document(event, measured), default=str)})
        store.audit(conn, event_id, "reporter", "report queued", destination=url)
    return url


def due(conn: Connection, grace_s: float) -> list[dict[str, Any]]:
    """Unacknowledged reports whose next attempt is due; a new one only after `grace_s`, since the release run
    that queued it delivers it itself right away."""
    return [dict(r._mapping) for r in conn.execute(text(
        "SELECT id, event_id, attempts, next_attempt_at FROM dr_outbox WHERE delivered_at IS NULL"
        " AND next_attempt_at <= now() AND (attempts > 0 OR created_at <= now() - make_interval(secs => :grace))"
        " ORDER BY id"), {"grace": grace_s})]


def deliver(engine: Engine, settings: Settings) -> int:
    """POST every due report once; how many the utility acknowledged (2xx) now.

    Due rows are claimed first (their next attempt pushed past the request timeout), so two
    concurrent deliveries never POST the same report; a failure backs off exponentially
    (`dr_outbox_backoff_s` doubled per attempt, at most `dr_outbox_backoff_max_s`).
    """
    lease_s = 3 * settings.dr_callback_timeout_s
    with engine.begin() as conn:
        claimed = [dict(r._mapping) for r in conn.execute(text(
            "UPDATE dr_outbox SET next_attempt_at = now() + make_interval(secs => :lease) WHERE id IN ("
            " SELECT id FROM dr_outbox WHERE delivered_at IS NULL AND next_attempt_at <= now() ORDER BY id"
            " FOR UPDATE SKIP LOCKED) RETURNING id, event_id, destination, payload, attempts"), {"lease": lease_s})]
    delivered = 0
    for item in sorted(claimed, key=lambda i: i["id"]):
        error = None
        try:
            response = httpx.post(item["destination"], json=item["payload"], timeout=settings.dr_callback_timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        backoff = min(settings.dr_outbox_backoff_max_s, settings.dr_outbox_backoff_s * 2 ** item["attempts"])
        with engine.begin() as conn:
            conn.execute(text("UPDATE dr_outbox SET attempts = attempts + 1, last_error = CAST(:err AS text),"
                              " delivered_at = CASE WHEN CAST(:err AS text) IS NULL THEN now() END,"
                              " next_attempt_at = now() + make_interval(secs => :backoff) WHERE id = :id"),
                         {"err": error, "id": item["id"], "backoff": backoff})
            store.audit(conn, item["event_id"], "reporter", "report acknowledged" if error is None
                        else "report delivery failed", destination=item["destination"], error=error,
                        attempt=item["attempts"] + 1, retry_in_s=None if error is None else backoff)
        delivered += error is None
    return delivered
