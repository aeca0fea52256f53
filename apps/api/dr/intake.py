"""The inbox transaction: one signed delivery becomes an inbox row, and the answer is decided with it.

Everything happens in one PostgreSQL transaction, so the answer the utility gets is exactly
what was persisted: the delivery id (replay protection), the event row, its facilities,
the audit row and the inbox row with the answer. A second delivery of the same event
revision (new delivery id) gets the stored answer back and starts nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from apps.api.dr.payloads import DrRequest


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    utility_id: str
    trace_id: str
    document: dict[str, Any]


class IntakeRefused(Exception):
    """The delivery is refused (nothing persisted); `status` and the message go into the problem document."""

    def __init__(self, status: int, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.reason, self.extra = status, reason, extra


def accept(engine: Engine, delivery: Delivery, request: DrRequest) -> dict[str, Any]:
    """Persist the delivery and answer it (the stored answer if this revision was seen before)."""
    try:
        with engine.begin() as conn:
            return _accept(conn, delivery, request)
    except IntegrityError:
        # A concurrent delivery of the same revision won the race: answer what it stored.
        with engine.begin() as conn:
            answer = _stored_answer(conn, request)
            if answer is None:
                raise
            return answer


# One round trip decides: claim the delivery id, and read the stored answer, the event's owner and
# revision and the unknown facilities. (Each round trip is a wait for the CPU on a busy machine.)
_DECIDE = text("""
WITH delivery AS (
    INSERT INTO dr_webhook_deliveries (webhook_id, utility_id, event_id, revision)
    VALUES (:wid, :uid, :eid, :rev) ON CONFLICT DO NOTHING RETURNING webhook_id)
SELECT EXISTS (SELECT 1 FROM delivery) AS fresh,
       (SELECT answer FROM dr_inbox WHERE event_id = :eid AND revision = :rev) AS answer,
       e.utility_id AS owner, e.revision AS stored_revision,
       ARRAY(SELECT f FROM unnest(CAST(:ids AS text[])) AS f
             WHERE NOT EXISTS (SELECT 1 FROM facilities WHERE facility_id = f)) AS unknown
FROM (SELECT 1) AS one LEFT JOIN dr_events e ON e.event_id = :eid""")

_NEW_EVENT = ("INSERT INTO dr_events (event_id, utility_id, revision, status, starts_at, ends_at, target_reduction_kw,"
              " payload, request, callback_url) VALUES (:eid, :uid, :rev, 'received', :start, :end, :target,"
              " CAST(:payload AS jsonb), CAST(:request AS jsonb), :callback)")
# An update is honoured for the window and targets; a saga already past planning keeps its commands
# and ends at the new end time (see docs/demand-response.md).
_UPDATED_EVENT = ("UPDATE dr_events SET revision = :rev, starts_at = :start, ends_at = :end,"
                  " target_reduction_kw = :target, payload = CAST(:payload AS jsonb),"
                  " request = CAST(:request AS jsonb), callback_url = COALESCE(:callback, callback_url),"
                  " updated_at = now() WHERE event_id = :eid")
_CANCELLED_EVENT = "UPDATE dr_events SET revision = :rev, updated_at = now() WHERE event_id = :eid"
# The rest of the write in one statement: foreign keys are checked at its end, after the event row exists.
_RECORD = """
WITH event AS ({event}),
     targets AS (
         INSERT INTO dr_event_facilities (event_id, facility_id, state)
         SELECT :eid, f, 'received' FROM unnest(CAST(:ids AS text[])) AS f ON CONFLICT DO NOTHING),
     audit AS (
         INSERT INTO dr_audit_log (event_id, actor, transition, detail)
         VALUES (:eid, 'webhook', :transition, CAST(:detail AS jsonb)))
INSERT INTO dr_inbox (event_id, revision, payload, trace_id, utility_id, operation, answer)
VALUES (:eid, :rev, CAST(:payload AS jsonb), :trace, :uid, :op, CAST(:answer AS jsonb))"""


def _accept(conn: Connection, delivery: Delivery, request: DrRequest) -> dict[str, Any]:
    state = conn.execute(_DECIDE, {"wid": delivery.webhook_id, "uid": delivery.utility_id, "eid": request.event_id,
                                   "rev": request.revision, "ids": request.facility_ids}).one()
    if not state.fresh:
        raise IntakeRefused(409, f"webhook-id {delivery.webhook_id} was already delivered: replay refused",
                            status_url=f"/v1/dr/events/{request.event_id}")
    if state.answer is not None:
        return dict(state.answer)
    if state.owner is not None and state.owner != delivery.utility_id:
        raise IntakeRefused(403, f"event {request.event_id} belongs to another utility")
    if state.stored_revision is not None and state.stored_revision > request.revision:
        raise IntakeRefused(409, f"revision {request.revision} is older than the stored {state.stored_revision}")
    if state.unknown:
        unknown = [f for f in request.facility_ids if f in set(state.unknown)]
        raise IntakeRefused(422, f"unknown facility id(s): {', '.join(unknown[:20])}", unknown_facilities=unknown)
    answer = {"event_id": request.event_id, "revision": request.revision, "operation": request.operation,
              "status_url": f"/v1/dr/events/{request.event_id}"}
    event = _NEW_EVENT if state.owner is None else _UPDATED_EVENT if request.operation == "upsert" else _CANCELLED_EVENT
    conn.execute(text(_RECORD.format(event=event)), {
        "eid": request.event_id, "uid": delivery.utility_id, "rev": request.revision, "start": request.starts_at,
        "end": request.ends_at, "target": request.target_reduction_kw or 0.0,
        "payload": json.dumps(delivery.document), "request": request.model_dump_json(),
        "callback": request.callback_url, "ids": request.facility_ids, "trace": delivery.trace_id,
        "op": request.operation, "answer": json.dumps(answer),
        "transition": f"{request.operation} revision {request.revision}",
        "detail": json.dumps({"webhook_id": delivery.webhook_id, "utility_id": delivery.utility_id,
                              "trace_id": delivery.trace_id}),
    })
    return answer


def _stored_answer(conn: Connection, request: DrRequest) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT answer FROM dr_inbox WHERE event_id = :eid AND revision = :rev"),
                       {"eid": request.event_id, "rev": request.revision}).first()
    return None if row is None else dict(row.answer)
