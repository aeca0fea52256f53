"""Data access of the DR pages: events, each facility's saga state and baselines, state changes, notices, audit log.

Same rules as `data.py`: cached with a short TTL (DR moves fast), retried once at once,
`StoreUnavailable` when PostgreSQL cannot answer. Columns the DR schema may not have yet
(the baselines) are read with `*`, so the page shows what exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import streamlit as st

from apps.streamlit.data import _pg

OPEN = ("received", "pending", "planned", "dispatching", "active", "releasing")
ACTING = ("dispatching", "active", "releasing")  # the saga is changing buildings now: pages refresh fast (S1)
TERMINAL = ("completed", "failed", "compensated", "cancelled")


@st.cache_data(ttl=5, show_spinner=False)
def dr_events(limit: int = 50) -> list[dict[str, object]]:
    """Recent DR events, newest first, with the verified total and per-facility verification (baselines)."""
    return _pg("""SELECT event_id, utility_id, status, starts_at, ends_at, target_reduction_kw, achieved_reduction_kw,
                         verification, received_at, updated_at
                  FROM dr_events ORDER BY starts_at DESC LIMIT :limit""", limit=limit)


@st.cache_data(ttl=5, show_spinner=False)
def dr_participation() -> list[dict[str, object]]:
    """Each facility's row in each recent event (every column the schema has: state, plan, baselines, error, ...)."""
    return _pg("""SELECT f.*, e.starts_at, e.ends_at FROM dr_event_facilities f JOIN dr_events e USING (event_id)
                  ORDER BY e.starts_at DESC, f.facility_id LIMIT 500""")


@st.cache_data(ttl=5, show_spinner=False)
def dr_audit_log(limit: int = 200) -> list[dict[str, object]]:
    return _pg("SELECT event_id, ts, actor, transition, detail FROM dr_audit_log ORDER BY ts DESC LIMIT :limit",
               limit=limit)


@st.cache_data(ttl=5, show_spinner=False)
def state_changes(event_ids: tuple[str, ...]) -> list[dict[str, object]]:
    """Every saga transition of these events from the audit log: event_id, ts, facility_id ('' = event), state."""
    return _pg("""SELECT event_id, ts, coalesce(detail->>'facility_id', '') AS facility_id,
                         split_part(transition, ' -> ', 2) AS state
                  FROM dr_audit_log WHERE event_id = ANY(:ids) AND transition LIKE '% -> %'
                    AND (transition LIKE 'event -> %' OR detail ? 'facility_id')
                  ORDER BY event_id, ts""", ids=list(event_ids))


@st.cache_data(ttl=5, show_spinner=False)
def active_dr_facilities() -> dict[str, str]:
    """Facilities in an open event (not finished): {facility_id: event status}, an event being acted on first."""
    # Last row wins: acting events sort last, so a facility in an active event and a later planned one is "active".
    rows = _pg("""SELECT f.facility_id, e.status FROM dr_event_facilities f JOIN dr_events e USING (event_id)
                  WHERE e.status = ANY(:open) ORDER BY e.status = ANY(:acting), e.starts_at""",
               open=list(OPEN), acting=list(ACTING))
    return {str(r["facility_id"]): str(r["status"]) for r in rows}


@st.cache_data(ttl=10, show_spinner=False)
def manager_notices(limit: int = 100) -> list[dict[str, object]]:
    """Notices to facility managers, newest first: the notifier's audit rows with the facility's saga state.

    The same source and columns as the API's `GET /v1/dr/facilities/{id}/notices`, for every facility.
    """
    return _pg("""SELECT a.ts, a.event_id, a.detail->>'facility_id' AS facility_id, f.state AS facility_state,
                         f.error, a.detail->>'subject' AS subject, a.detail->>'recipient' AS recipient,
                         a.transition = 'manager notified' AS emailed, a.detail->>'error' AS email_error
                  FROM dr_audit_log a LEFT JOIN dr_event_facilities f
                    ON f.event_id = a.event_id AND f.facility_id = a.detail->>'facility_id'
                  WHERE a.actor = 'notifier' ORDER BY a.id DESC LIMIT :limit""", limit=limit)


def timeline(changes: list[dict[str, Any]], events: list[dict[str, object]],
             now: datetime | None = None) -> pl.DataFrame:
    """Gantt segments: one row per (event, facility, state) from one transition to the next.

    A state still held ends `now` (or at its transition, for a terminal state, drawn as a sliver);
    `window_start/_end` is the event's own window, `lane` the chart row ("<event> · <facility>").
    """
    now = now or datetime.now(UTC)
    windows = {str(e["event_id"]): (e["starts_at"], e["ends_at"]) for e in events}
    rows: list[dict[str, Any]] = []
    by_lane: dict[tuple[str, str], list[dict[str, Any]]] = {}
    received = [{"event_id": e["event_id"], "ts": e["received_at"], "facility_id": "", "state": "received"}
                for e in events if e.get("received_at")]  # the intake writes no "-> received" transition
    for change in sorted([*received, *changes], key=lambda c: (str(c["event_id"]), c["ts"])):
        by_lane.setdefault((str(change["event_id"]), str(change["facility_id"])), []).append(change)
    for (event_id, facility_id), lane in by_lane.items():
        for this, following in zip(lane, [*lane[1:], None], strict=True):
            start = this["ts"]
            end = following["ts"] if following else start if this["state"] in TERMINAL else max(now, start)
            window = windows.get(event_id, (start, end))
            rows.append({"event_id": event_id, "facility_id": facility_id or "(event)", "state": this["state"],
                         "start": start, "end": end, "window_start": window[0], "window_end": window[1],
                         "lane": f"{event_id} · {facility_id or 'event'}"})
    schema = {"event_id": pl.String(), "facility_id": pl.String(), "state": pl.String(), "start": pl.Object(),
              "end": pl.Object(), "window_start": pl.Object(), "window_end": pl.Object(), "lane": pl.String()}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col(c).map_elements(lambda v: v.astimezone(UTC), return_dtype=pl.Datetime("us", "UTC"))
                              for c in ("start", "end", "window_start", "window_end"))


def baselines(participation: list[dict[str, object]], events: list[dict[str, object]]) -> list[dict[str, Any]]:
    """Target vs achieved per (event, facility) with every baseline the verification recorded, in kW."""
    verification = {str(e["event_id"]): e.get("verification") or {} for e in events}
    table = []
    for p in participation:
        verified: dict[str, Any] = verification.get(str(p["event_id"]), {}).get(str(p["facility_id"])) or {}  # type: ignore[attr-defined]
        row: dict[str, Any] = {
            "lane": f"{p['event_id']} · {p['facility_id']}", "event_id": p["event_id"],
            "facility_id": p["facility_id"], "state": p["state"], "target_kw": p.get("target_reduction_kw"),
            "achieved_kw": p.get("achieved_reduction_kw"),
            "baseline_method": p.get("baseline_method") or verified.get("method"),
            "baseline_kw": p.get("baseline_kw") or verified.get("baseline_kw"),
            "metered_kw": p.get("metered_kw") or verified.get("metered_kw"),
        }
        for method, values in (verified.get("baselines") or {}).items():
            row[f"{method} baseline kW"] = (values or {}).get("baseline_kw")
        table.append(row)
    return table
