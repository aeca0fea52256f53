"""Verification of an event from the meters: achieved reduction per facility, and the reconciliation check.

Baseline: the P50 of the latest forecast issued before the event started, averaged over the
event window (what the facility would have drawn). Metered: the average of QuestDB's
`facility_load_1m` over the same window. Achieved = baseline - metered. The utility-style
"10 of 10" / "high 5 of 10" baselines with day-of adjustment are not implemented yet.
Reconciliation recomputes from fresh meter data and alerts past `dr_reconciliation_tolerance`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine, text

from pipelines.dr import store
from sems.settings import Settings
from sems.stores import questdb

RECONCILIATION_ALERTS = Counter("sems_dr_reconciliation_alerts_total", "DR events whose recorded reduction "
                                "differs from fresh meter data by more than the tolerance")
log = logging.getLogger(__name__)


def measure(engine: Engine, settings: Settings, event_id: str) -> dict[str, dict[str, Any]]:
    """Baseline, metered load and achieved reduction (kW) per facility of the event."""
    with engine.begin() as conn:
        event = store.load_event(conn, event_id)
        if event is None:
            raise LookupError(f"no DR event {event_id}")
        facility_ids = sorted(store.facility_states(conn, event_id))
        baselines: dict[str, float] = dict(conn.execute(text(
            "WITH issued AS (SELECT facility_id, max(generated_at) AS generated_at FROM load_forecasts"
            " WHERE facility_id = ANY(:ids) AND generated_at <= :start GROUP BY facility_id)"
            " SELECT f.facility_id, avg(f.p50) FROM load_forecasts f JOIN issued USING (facility_id, generated_at)"
            " WHERE f.ts >= :start AND f.ts < :end GROUP BY f.facility_id"),
            {"ids": facility_ids, "start": event["starts_at"], "end": event["ends_at"]}).all())
    end = min(event["ends_at"], datetime.now(UTC))
    id_list = ", ".join(f"'{f}'" for f in facility_ids if f.replace("-", "").isalnum())  # ids are validated slugs
    rows = questdb.query(settings, (
        f"SELECT facility_id, avg(kw_avg) AS kw, count() AS minutes FROM facility_load_1m WHERE facility_id IN"
        f" ({id_list}) AND ts >= '{event['starts_at'].astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z'"
        f" AND ts < '{end.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z'"))
    metered = {r["facility_id"]: r for r in rows}
    result = {}
    for fid in facility_ids:
        baseline, meter = baselines.get(fid), metered.get(fid)
        achieved = None if baseline is None or meter is None else round(float(baseline) - float(meter["kw"]), 3)
        result[fid] = {"baseline_kw": baseline, "metered_kw": None if meter is None else meter["kw"],
                       "minutes": 0 if meter is None else meter["minutes"], "achieved_kw": achieved,
                       "method": "forecast_p50"}
    return result


def verify(engine: Engine, settings: Settings, event_id: str) -> dict[str, dict[str, Any]]:
    """Measure and store the achieved reduction on the event and its facilities (audited)."""
    measured = measure(engine, settings, event_id)
    achieved = [m["achieved_kw"] for m in measured.values() if m["achieved_kw"] is not None]
    with engine.begin() as conn:
        for fid, m in measured.items():
            conn.execute(text("UPDATE dr_event_facilities SET achieved_reduction_kw = :a WHERE event_id = :eid"
                              " AND facility_id = :fid"), {"a": m["achieved_kw"], "eid": event_id, "fid": fid})
        conn.execute(text("UPDATE dr_events SET achieved_reduction_kw = :a, verification = CAST(:v AS jsonb),"
                          " updated_at = now() WHERE event_id = :eid"),
                     {"a": round(sum(achieved), 3) if achieved else None, "v": json.dumps(measured, default=str),
                      "eid": event_id})
        store.audit(conn, event_id, "verifier", "verified", achieved_kw=sum(achieved) if achieved else None,
                    unmeasured=[f for f, m in measured.items() if m["achieved_kw"] is None])
    return measured


def reconcile(engine: Engine, settings: Settings, event_id: str) -> list[str]:
    """Facilities whose recorded reduction differs from fresh meter data past the tolerance (alerted)."""
    fresh = measure(engine, settings, event_id)
    with engine.begin() as conn:
        recorded: dict[str, float | None] = dict(conn.execute(text(
            "SELECT facility_id, achieved_reduction_kw FROM dr_event_facilities WHERE event_id = :eid"),
            {"eid": event_id}).all())
        off = []
        for fid, m in fresh.items():
            old, new = recorded.get(fid), m["achieved_kw"]
            if old is None or new is None:
                continue
            if abs(new - old) > settings.dr_reconciliation_tolerance * max(abs(old), 1e-9):
                off.append(fid)
                store.audit(conn, event_id, "reconciliation", "reconciliation alert", facility_id=fid,
                            recorded_kw=old, fresh_kw=new)
    if off:
        RECONCILIATION_ALERTS.inc()
        log.warning("DR reconciliation discrepancy", extra={"fields": {"event_id": event_id, "facilities": off}})
    return off
