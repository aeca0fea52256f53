"""The saga's state in PostgreSQL: event and facility transitions, BMS command records, each with its audit row.

Every function takes a connection inside a transaction (`engine.begin()`), so a state change
and its append-only audit row commit together or not at all (C2, M5).
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from pipelines.dr.plan import FacilityForecast, FacilityPlan, Quality

TERMINAL = ("completed", "failed", "compensated", "cancelled")


def audit(conn: Connection, event_id: str, actor: str, transition: str, **detail: Any) -> None:
    conn.execute(text("INSERT INTO dr_audit_log (event_id, actor, transition, detail)"
                      " VALUES (:eid, :actor, :transition, CAST(:detail AS jsonb))"),
                 {"eid": event_id, "actor": actor, "transition": transition,
                  "detail": json.dumps(detail, default=str)})


def bms_addresses(conn: Connection) -> dict[str, str]:
    """The facilities whose BMS has an address of its own (`facilities.bms_url`)."""
    return dict(conn.execute(text("SELECT facility_id, bms_url FROM facilities WHERE bms_url IS NOT NULL")).all())


def load_event(conn: Connection, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT * FROM dr_events WHERE event_id = :eid"), {"eid": event_id}).first()
    return None if row is None else dict(row._mapping)


def move_event(conn: Connection, event_id: str, to: str, allowed_from: tuple[str, ...], actor: str,
               **detail: Any) -> bool:
    """Move the event to `to` if it is in one of `allowed_from`; audit it. False if it was elsewhere."""
    row = conn.execute(text("UPDATE dr_events SET status = :to, updated_at = now() WHERE event_id = :eid"
                            " AND status = ANY(:frm) RETURNING status"),
                       {"to": to, "eid": event_id, "frm": list(allowed_from)}).first()
    if row is not None:
        audit(conn, event_id, actor, f"event -> {to}", **detail)
    return row is not None


def move_facility(conn: Connection, event_id: str, facility_id: str, to: str, actor: str,
                  error: str | None = None, **detail: Any) -> None:
    conn.execute(text("UPDATE dr_event_facilities SET state = :to, error = :error, updated_at = now()"
                      " WHERE event_id = :eid AND facility_id = :fid"),
                 {"to": to, "error": error, "eid": event_id, "fid": facility_id})
    audit(conn, event_id, actor, f"{facility_id} -> {to}", facility_id=facility_id, error=error, **detail)


def write_plan(conn: Connection, event_id: str, plan: FacilityPlan, state: str, revision: int | None = None) -> None:
    """Record a facility's plan (target, device values, forecast quality) and move it to `state`; a re-plan names
    the `revision` it was made for (the first plan leaves `plan_revision` empty)."""
    conn.execute(text("UPDATE dr_event_facilities SET state = :state, target_reduction_kw = :t,"
                      " plan = CAST(:plan AS jsonb), forecast_quality = :q,"
                      " plan_revision = COALESCE(CAST(:rev AS integer), plan_revision), updated_at = now()"
                      " WHERE event_id = :eid AND facility_id = :fid"),
                 {"state": state, "t": plan.target_kw, "plan": json.dumps(plan.as_json()), "q": plan.quality,
                  "rev": revision, "eid": event_id, "fid": plan.facility_id})


def facility_states(conn: Connection, event_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(text("SELECT * FROM dr_event_facilities WHERE event_id = :eid ORDER BY facility_id"),
                        {"eid": event_id})
    return {r.facility_id: dict(r._mapping) for r in rows}


def command(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT * FROM dr_bms_commands WHERE idempotency_key = :k"), {"k": key}).first()
    return None if row is None else dict(row._mapping)


def commands_of(conn: Connection, event_id: str, facility_id: str, action: str) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT * FROM dr_bms_commands WHERE event_id = :eid AND facility_id = :fid"
                             " AND action = :action ORDER BY created_at DESC"),
                        {"eid": event_id, "fid": facility_id, "action": action})
    return [dict(r._mapping) for r in rows]


def record_command(conn: Connection, event_id: str, facility_id: str, key: str, point: str, action: str,
                   prior: float, target: float) -> None:
    """Record a command (and the device's prior value) before it is sent: nothing is changed unrecorded."""
    conn.execute(text("INSERT INTO dr_bms_commands (idempotency_key, event_id, facility_id, point, action,"
                      " prior_value, target_value, state) VALUES (:k, :eid, :fid, :point, :action, :prior, :target,"
                      " 'sending')"), {"k": key, "eid": event_id, "fid": facility_id, "point": point,
                                       "action": action, "prior": prior, "target": target})
    audit(conn, event_id, "saga", f"{facility_id} {point} {action} recorded", idempotency_key=key,
          prior_value=prior, target_value=target)


def finish_command(conn: Connection, event_id: str, key: str, state: str, error: str | None = None) -> None:
    conn.execute(text("UPDATE dr_bms_commands SET state = :state, error = :error, updated_at = now()"
                      " WHERE idempotency_key = :k"), {"state": state, "error": error, "k": key})
    audit(conn, event_id, "saga", f"command {state}", idempotency_key=key, error=error)


def record_reconciliation(conn: Connection, event_id: str, check: dict[str, Any], off: bool) -> None:
    """One facility's reconciliation check (recorded vs fresh kW); `off`: past the tolerance, an alert."""
    conn.execute(text("INSERT INTO dr_reconciliations (event_id, facility_id, recorded_kw, fresh_kw, discrepancy, off)"
                      " VALUES (:eid, :facility_id, :recorded_kw, :fresh_kw, :discrepancy, :off)"),
                 {**check, "eid": event_id, "off": off})


def event_lock_key(event_id: str) -> int:
    """The advisory lock that serialises dispatch and release runs of one event."""
    return 0x5E45_D000 + zlib.crc32(event_id.encode())


def forecasts(conn: Connection, facility_ids: list[str], starts_at: datetime, ends_at: datetime,
              stale_after_s: float) -> list[FacilityForecast]:
    """The latest forecast's lowest P10 over the window per facility, with its quality."""
    rows = {r.facility_id: r for r in conn.execute(text(
        "WITH latest AS (SELECT facility_id, max(generated_at) AS generated_at FROM load_forecasts"
        " WHERE facility_id = ANY(:ids) GROUP BY facility_id)"
        " SELECT f.facility_id, l.generated_at, min(f.p10) AS p10, bool_or(f.source = 'fallback') AS fallback"
        " FROM load_forecasts f JOIN latest l USING (facility_id, generated_at)"
        " WHERE f.ts > :start - interval '15 minutes' AND f.ts < :end GROUP BY f.facility_id, l.generated_at"),
        {"ids": facility_ids, "start": starts_at, "end": ends_at})}
    contracts: dict[str, float] = dict(conn.execute(text("SELECT facility_id, contract_demand_kw FROM facilities"
                                       " WHERE facility_id = ANY(:ids)"), {"ids": facility_ids}).all())
    stale_before = datetime.now(UTC) - timedelta(seconds=stale_after_s)
    result = []
    for fid in facility_ids:
        row = rows.get(fid)
        if row is None:
            result.append(FacilityForecast(fid, 0.3 * float(contracts[fid]), "none", None))
            continue
        quality: Quality = "fallback" if row.fallback else "stale" if row.generated_at < stale_before else "model"
        result.append(FacilityForecast(fid, float(row.p10), quality, row.generated_at))
    return result
