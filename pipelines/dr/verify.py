"""Verification of an event from the meters: achieved reduction per facility and per interval, and reconciliation.

Per facility and 15-minute interval, three baselines (what the facility would have drawn):
the utility-style "10 of 10" and "high 5 of 10" CBLs with day-of adjustment
(`pipelines.dr.baselines`, from `facility_load_15m`), and the P50 of the latest forecast
issued before the start. Metered: `facility_load_1m` averaged per interval. The reported
baseline is `dr_report_baseline` (high 5 of 10 by default), or the forecast P50 where a
facility has too few like days. Achieved = baseline - metered, per interval and, weighted
by the minutes metered, per facility. Everything is stored on the event (`dr_event_intervals`,
`dr_event_facilities`, `dr_events.verification`). Reconciliation recomputes from fresh meter
data, records every check in `dr_reconciliations` (the API's /metrics counts the facilities off
at their latest check) and alerts past `dr_reconciliation_tolerance`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from pipelines.dr import meter_data, store
from pipelines.dr.baselines import METHODS, SLOT, Baseline, customer_baselines, event_slots
from sems.settings import Settings

log = logging.getLogger(__name__)


def intervals(starts_at: datetime, ends_at: datetime, metered: dict[datetime, tuple[float, int]],
              cbl: dict[str, Baseline] | None, p50: dict[datetime, float], preferred: str) -> list[dict[str, Any]]:
    """One row per interval: metered kW and minutes, each baseline, the one reported, achieved kW."""
    method = preferred if preferred == "forecast_p50" or cbl is not None else "forecast_p50"
    rows = []
    for slot in event_slots(starts_at, ends_at):
        kw, minutes = metered.get(slot, (None, 0))
        baselines = {f"{m}_kw": None if cbl is None else cbl[m].kw.get(slot) for m in METHODS}
        baselines["forecast_p50_kw"] = p50.get(slot)
        baseline = baselines[f"{method}_kw"]
        rows.append({"starts_at": max(slot, starts_at), "ends_at": min(slot + SLOT, ends_at), "metered_kw": kw,
                     "minutes": minutes, **baselines, "baseline_method": method, "baseline_kw": baseline,
                     "achieved_kw": None if kw is None or baseline is None else round(baseline - kw, 3)})
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The facility over the event: per baseline, minute-weighted means over the intervals it can be compared on."""
    def mean(usable: list[dict[str, Any]], column: str) -> float | None:
        minutes = sum(r["minutes"] for r in usable)
        return round(sum(r[column] * r["minutes"] for r in usable) / minutes, 3) if minutes else None

    metered_rows = [r for r in rows if r["minutes"] and r["metered_kw"] is not None]
    by_method = {}
    for method in (*METHODS, "forecast_p50"):
        usable = [r for r in metered_rows if r[f"{method}_kw"] is not None]
        baseline, metered = mean(usable, f"{method}_kw"), mean(usable, "metered_kw")
        achieved = None if baseline is None or metered is None else round(baseline - metered, 3)
        by_method[method] = {"baseline_kw": baseline, "metered_kw": metered, "achieved_kw": achieved}
    method = rows[0]["baseline_method"] if rows else "forecast_p50"
    chosen = by_method[method]
    metered_all = chosen["metered_kw"] if chosen["baseline_kw"] is not None else mean(metered_rows, "metered_kw")
    return {"method": method, "baseline_kw": chosen["baseline_kw"], "metered_kw": metered_all,
            "minutes": sum(r["minutes"] for r in rows), "achieved_kw": chosen["achieved_kw"], "baselines": by_method}


def measure(engine: Engine, settings: Settings, event_id: str) -> dict[str, dict[str, Any]]:
    """Per facility: its summary (`summary`) plus its `intervals` and the CBLs' like days and adjustments."""
    with engine.begin() as conn:
        event = store.load_event(conn, event_id)
        if event is None:
            raise LookupError(f"no DR event {event_id}")
        start, end = event["starts_at"], event["ends_at"]
        facility_ids = sorted(store.facility_states(conn, event_id))
        p50 = meter_data.forecast_p50(conn, facility_ids, start, end)
        facts = meter_data.facts(conn, event_id, facility_ids, start)
    history = meter_data.history(settings, facility_ids, start)
    metered = meter_data.metered(settings, facility_ids, start, end)
    result = {}
    for fid in facility_ids:
        fact = facts[fid]
        cbl = customer_baselines(history[fid], fact.timezone, start, end, fact.event_days, fact.holidays) \
            if history[fid].height else None
        rows = intervals(start, end, metered.get(fid, {}), cbl, p50.get(fid, {}), settings.dr_report_baseline)
        result[fid] = {**summary(rows), "intervals": rows, "cbl": None if cbl is None else {
            m: {"days": [d.isoformat() for d in b.days], "adjustment": b.adjustment,
                "unadjusted_ratio": b.unadjusted_ratio} for m, b in cbl.items()}}
    return result


def verify(engine: Engine, settings: Settings, event_id: str) -> dict[str, dict[str, Any]]:
    """Measure and store the achieved reduction on the event, its facilities and intervals (audited)."""
    measured = measure(engine, settings, event_id)
    achieved = [m["achieved_kw"] for m in measured.values() if m["achieved_kw"] is not None]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dr_event_intervals WHERE event_id = :eid"), {"eid": event_id})
        for fid, m in measured.items():
            conn.execute(text("UPDATE dr_event_facilities SET achieved_reduction_kw = :achieved_kw,"
                              " baseline_method = :method, baseline_kw = :baseline_kw, metered_kw = :metered_kw"
                              " WHERE event_id = :eid AND facility_id = :fid"), {**m, "eid": event_id, "fid": fid})
            for row in m["intervals"]:
                conn.execute(text(
                    "INSERT INTO dr_event_intervals (event_id, facility_id, starts_at, ends_at, metered_kw, minutes,"
                    " ten_of_ten_kw, high_five_of_ten_kw, forecast_p50_kw, baseline_method, baseline_kw, achieved_kw)"
                    " VALUES (:eid, :fid, :starts_at, :ends_at, :metered_kw, :minutes, :ten_of_ten_kw,"
                    " :high_five_of_ten_kw, :forecast_p50_kw, :baseline_method, :baseline_kw, :achieved_kw)"),
                    {**row, "eid": event_id, "fid": fid})
        conn.execute(text("UPDATE dr_events SET achieved_reduction_kw = :a, verification = CAST(:v AS jsonb),"
                          " updated_at = now() WHERE event_id = :eid"),
                     {"a": round(sum(achieved), 3) if achieved else None, "eid": event_id,
                      "v": json.dumps({f: {k: v for k, v in m.items() if k != "intervals"}
                                       for f, m in measured.items()}, default=str)})
        store.audit(conn, event_id, "verifier", "verified", achieved_kw=sum(achieved) if achieved else None,
                    methods={f: m["method"] for f, m in measured.items()},
                    unmeasured=[f for f, m in measured.items() if m["achieved_kw"] is None])
    return measured


def reconcile(engine: Engine, settings: Settings, event_id: str) -> list[dict[str, Any]]:
    """Facilities whose recorded reduction differs from fresh meter data past the tolerance (each alerted)."""
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
            check = {"facility_id": fid, "recorded_kw": old, "fresh_kw": new,
                     "discrepancy": round(abs(new - old) / max(abs(old), 1e-9), 4)}
            past = abs(new - old) > settings.dr_reconciliation_tolerance * max(abs(old), 1e-9)
            store.record_reconciliation(conn, event_id, check, past)
            if past:
                off.append(check)
                store.audit(conn, event_id, "reconciliation", "reconciliation alert", **check)
    if off:
        log.warning("DR reconciliation discrepancy", extra={"fields": {"event_id": event_id, "facilities": off}})
    return off
