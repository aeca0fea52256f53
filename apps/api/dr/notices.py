"""Manager notices of DR: facilities SEMS could not command (compensated) or restore (failed), for the UI.

Each notice is a notification the saga sent (or tried to send) to the facility's manager,
with the facility's saga state and error on that event; the audit log is the source, so a
notice exists exactly when a manager was told (or the mail server refused it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from apps.api.dr.status import jsonable

NOTICES_SQL = """
    SELECT a.ts, a.event_id, e.status AS event_status, e.starts_at, e.ends_at, f.state, f.error,
           a.detail->>'subject' AS subject, a.detail->>'recipient' AS recipient,
           a.transition = 'manager notified' AS emailed, a.detail->>'error' AS email_error
    FROM dr_audit_log a
    JOIN dr_events e ON e.event_id = a.event_id
    LEFT JOIN dr_event_facilities f ON f.event_id = a.event_id AND f.facility_id = a.detail->>'facility_id'
    WHERE a.actor = 'notifier' AND a.detail->>'facility_id' = :fid
    ORDER BY a.id DESC LIMIT :limit
"""


def facility_notices(engine: Engine, facility_id: str, limit: int) -> list[dict[str, Any]]:
    """The facility's DR notices, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(text(NOTICES_SQL), {"fid": facility_id, "limit": limit})
        return [jsonable(dict(r._mapping)) for r in rows]
