"""The DR events page with AppTest: list, saga timeline, facility states, target vs achieved with baselines, notices."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

from apps.streamlit import data_dr
from sems.settings import Settings
from sems.stores import postgres
from tests.apps.streamlit.conftest import render

VERIFIED = {  # what the verifier stores per facility on the event (baselines by method, the one reported)
    "fac-001": {"method": "ten_of_ten", "baseline_kw": 300.0, "metered_kw": 252.5, "achieved_kw": 47.5,
                "baselines": {"ten_of_ten": {"baseline_kw": 300.0}, "high_five_of_ten": {"baseline_kw": 320.0},
                              "forecast_p50": {"baseline_kw": 290.0}}},
}


def _finished_event(settings: Settings) -> tuple[str, datetime]:
    """A completed event 3 h ago: fac-001 completed (verified), fac-002 compensated (its manager notified)."""
    event_id, starts = f"ui-test-{uuid.uuid4().hex[:8]}", datetime.now(UTC) - timedelta(hours=3)
    audit = [("saga", "fac-001 -> dispatching", 0, "fac-001"), ("saga", "fac-002 -> dispatching", 0, "fac-002"),
             ("saga", "fac-001 -> active", 2, "fac-001"), ("saga", "fac-002 -> compensated", 3, "fac-002"),
             ("notifier", "manager notified", 4, "fac-002"), ("saga", "fac-001 -> completed", 62, "fac-001"),
             ("saga", "event -> completed", 63, None)]
    db = postgres.engine(settings)
    with db.begin() as conn:  # finished, so no saga acts on it
        conn.execute(text("""INSERT INTO dr_events (event_id, utility_id, status, starts_at, ends_at,
                             target_reduction_kw, achieved_reduction_kw, verification, payload, received_at)
                             VALUES (:e, 'ui-test', 'completed', :s, :t, 80, 47.5, CAST(:v AS jsonb), '{}', :r)"""),
                     {"e": event_id, "s": starts, "t": starts + timedelta(hours=1), "v": json.dumps(VERIFIED),
                      "r": starts - timedelta(minutes=10)})
        conn.execute(text("""INSERT INTO dr_event_facilities (event_id, facility_id, state, target_reduction_kw,
                             achieved_reduction_kw) VALUES (:e, 'fac-001', 'completed', 50, 47.5),
                             (:e, 'fac-002', 'compensated', 30, NULL)"""), {"e": event_id})
        for actor, transition, minute, facility in audit:
            detail: dict[str, str] = {"facility_id": facility} if facility else {}
            if actor == "notifier":
                detail |= {"recipient": "manager+fac-002@sems.local", "subject": "could not command the BMS"}
            conn.execute(text("INSERT INTO dr_audit_log (event_id, ts, actor, transition, detail) "
                              "VALUES (:e, :ts, :a, :t, CAST(:d AS jsonb))"),
                         {"e": event_id, "ts": starts + timedelta(minutes=minute), "a": actor, "t": transition,
                          "d": json.dumps(detail)})
    db.dispose()
    return event_id, starts


def test_dr_page_shows_events_timeline_saga_baselines_notices_and_audit(settings: Settings) -> None:
    event_id, starts = _finished_event(settings)
    at = render("dr_events")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [h.value for h in at.subheader] == ["Events", "Timeline", "Per-facility saga state", "Target vs achieved",
                                               "Manager notices", "Audit log (append-only)"]
    events, saga, achieved, notices, audit = (frame.value for frame in at.dataframe)
    assert event_id in set(events["event_id"])
    mine = saga[saga["event_id"] == event_id].set_index("facility_id")
    assert (mine.loc["fac-001", "state"], mine.loc["fac-002", "state"]) == ("completed", "compensated")
    verified = achieved[(achieved["event_id"] == event_id) & (achieved["facility_id"] == "fac-001")].iloc[0]
    assert (verified["target_kw"], verified["achieved_kw"], verified["baseline_method"]) == (50, 47.5, "ten_of_ten")
    assert (verified["ten_of_ten baseline kW"], verified["high_five_of_ten baseline kW"]) == (300.0, 320.0)
    assert "fac-002" in set(notices[notices["event_id"] == event_id]["facility_id"])
    assert any("compensated facilities" in i.value and "fac-002" in i.value for i in at.info)
    assert "fac-001 -> completed" in set(audit[audit["event_id"] == event_id]["transition"])
    lanes = {lane for chart in at.get("vega_lite_chart") for named in chart.proto.datasets  # type: ignore[attr-defined]
             for lane in convert_arrow_bytes_to_pandas_df(named.data.data).get("lane", [])}
    assert {f"{event_id} · fac-001", f"{event_id} · fac-002", f"{event_id} · event"} <= lanes  # the Gantt's rows


def test_timeline_segments_run_from_one_transition_to_the_next(settings: Settings) -> None:
    event_id, starts = _finished_event(settings)
    events = [{"event_id": event_id, "received_at": starts - timedelta(minutes=10), "starts_at": starts,
               "ends_at": starts + timedelta(hours=1)}]
    data_dr.state_changes.clear()
    segments = data_dr.timeline(data_dr.state_changes((event_id,)), events)
    fac1 = segments.filter(segments["facility_id"] == "fac-001").sort("start").to_dicts()
    assert [s["state"] for s in fac1] == ["dispatching", "active", "completed"]
    assert [(s["end"] - s["start"]).total_seconds() / 60 for s in fac1] == [2, 60, 0]  # terminal: a sliver at its end
    lane = segments.filter(segments["facility_id"] == "(event)").sort("start")["state"].to_list()
    assert lane == ["received", "completed"]
