"""What `GET /v1/dr/events/{id}` shows: the saga's state, per facility, its BMS commands and the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def _rows(conn: Any, sql: str, event_id: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text(sql), {"eid": event_id})]


def event_status(engine: Engine, event_id: str) -> dict[str, Any] | None:
    """The event as JSON-ready data, or None if unknown."""
    with engine.connect() as conn:
        events = _rows(conn, "SELECT event_id, utility_id, revision, status, starts_at, ends_at,"
                             " target_reduction_kw, achieved_reduction_kw, verification, received_at, updated_at"
                             " FROM dr_events WHERE event_id = :eid", event_id)
        if not events:
            return None
        facilities = _rows(conn, "SELECT facility_id, state, target_reduction_kw, achieved_reduction_kw,"
                                 " forecast_quality, plan, error FROM dr_event_facilities WHERE event_id = :eid"
                                 " ORDER BY facility_id", event_id)
        commands = _rows(conn, "SELECT facility_id, point, action, prior_value, target_value, state, error,"
                               " idempotency_key FROM dr_bms_commands WHERE event_id = :eid"
                               " ORDER BY facility_id, created_at", event_id)
        audit = _rows(conn, "SELECT ts, actor, transition, detail FROM dr_audit_log WHERE event_id = :eid"
                            " ORDER BY id", event_id)
    return {**jsonable(events[0]), "facilities": [jsonable(f) for f in facilities],
            "commands": [jsonable(c) for c in commands], "audit": [jsonable(a) for a in audit]}


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as ISO 8601 strings."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
