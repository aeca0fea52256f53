"""Every page of the analyst UI rendered with AppTest against the running test stack."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stores import postgres
from tests.apps.streamlit.conftest import load_of_every_facility, render
from tests.support import wait_until


def test_overview_shows_every_facility_against_its_contract_with_data_age(settings: Settings) -> None:
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    wait_until(lambda: load_of_every_facility(settings, [f.facility_id for f in fleet]), timeout_s=120,
               what="a 1-minute load total of every demo facility")
    at = render("overview")
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.table[0].value
    assert {f"{f.name} ({f.facility_id})" for f in fleet} == set(table["Facility"])
    assert table["Load kW"].notna().all() and table["Data age"].str.endswith(" ago").all()
    for _, row in table.iterrows():
        assert abs(row["% of contract"] - 100 * row["Load kW"] / row["Contract kW"]) < 1e-6
    assert any("refreshing every" in c.value for c in at.caption)


def test_navigation_opens_on_the_fleet_overview(settings: Settings) -> None:
    at = render("app")
    assert not at.exception
    assert at.title[0].value == "Fleet overview"


def test_facility_page_shows_load_age_and_says_what_is_missing(settings: Settings) -> None:
    at = render("facility")
    assert not at.exception, at.exception
    assert any(c.value.startswith("fac-001 · 1 minute totals · newest ") for c in at.caption)
    assert at.subheader[0].value == "BMS command history"
    assert any("sems forecast upload" in i.value for i in at.info)  # no upload function in this build: said so


def test_dr_events_page_lists_events_saga_state_and_audit(settings: Settings) -> None:
    event_id = f"ui-test-{uuid.uuid4().hex[:8]}"
    starts = datetime.now(UTC) - timedelta(hours=3)
    db = postgres.engine(settings)
    try:
        with db.begin() as conn:  # a finished event, so no saga acts on it
            conn.execute(text("""INSERT INTO dr_events (event_id, utility_id, status, starts_at, ends_at,
                                 target_reduction_kw, payload) VALUES (:e, 'ui-test', 'completed', :s, :t, 50, :p)"""),
                         {"e": event_id, "s": starts, "t": starts + timedelta(hours=1), "p": json.dumps({})})
            conn.execute(text("""INSERT INTO dr_event_facilities (event_id, facility_id, state, target_reduction_kw,
                                 achieved_reduction_kw) VALUES (:e, 'fac-001', 'completed', 50, 47.5)"""),
                         {"e": event_id})
            conn.execute(text("INSERT INTO dr_audit_log (event_id, actor, transition) VALUES (:e, 'ui-test', "
                              "'active->completed')"), {"e": event_id})
    finally:
        db.dispose()
    at = render("dr_events")
    assert not at.exception and not at.error
    events, saga, audit = (frame.value for frame in at.dataframe)
    assert event_id in set(events["event_id"])
    mine = saga[saga["event_id"] == event_id].iloc[0]
    assert (mine["facility_id"], mine["state"], mine["achieved_reduction_kw"]) == ("fac-001", "completed", 47.5)
    assert "active->completed" in set(audit[audit["event_id"] == event_id]["transition"])


def test_data_quality_page_shows_dlq_depth_and_lag_from_kafka(settings: Settings) -> None:
    at = render("data_quality")
    assert not at.exception and not at.error, [e.value for e in at.error]
    labels = {m.label: m.value for m in at.metric}
    assert labels[f"DLQ {settings.kafka_readings_dlq_topic}"].endswith(" messages")
    assert labels[f"Kafka lag of {settings.beam_consumer_group}"].endswith(" readings")
    assert any(c.value.startswith("Kafka offsets read ") for c in at.caption)


def test_models_page_links_mlflow_and_names_the_champion_or_its_absence(settings: Settings) -> None:
    at = render("models")
    assert not at.exception
    assert at.title[0].value == "Models"
    champion = [s.value for s in at.subheader if "(champion)" in s.value]
    assert champion or any("aliased `champion`" in i.value for i in at.info)
