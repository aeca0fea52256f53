"""The facility page with AppTest: load against the forecast band, weather, sheddable load, BMS commands, CSV upload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from apps.api.sheddable import sheddable
from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stores import postgres
from sems.weather.chain import chain
from tests.apps.streamlit.conftest import render


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, content, "text/csv"))
    return at.button[0].click().run()


@pytest.fixture
def last_facility(settings: Settings) -> Iterator[str]:
    """The last demo facility; manual profiles the test uploads for it are removed afterwards."""
    facility_id = demo_fleet(settings.simulator_facilities, settings.simulator_meters)[-1].facility_id
    started = datetime.now(UTC)
    yield facility_id
    db = postgres.engine(settings)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM load_forecasts WHERE facility_id = :f AND source = 'manual' "
                          "AND model_version LIKE 'manual:ui-test-%' AND generated_at >= :t"),
                     {"f": facility_id, "t": started})
    db.dispose()


def test_facility_page_shows_load_band_weather_sheddable_and_commands(settings: Settings) -> None:
    # The weather as the `weather_forecast` asset stores it: the provider chain's last good forecast per place.
    db = postgres.engine(settings)
    with db.connect() as conn:
        lat, lon = conn.execute(text("SELECT latitude, longitude FROM facilities WHERE facility_id = 'fac-001'")).one()
    db.dispose()
    stored = chain(settings).forecast(lat, lon, settings.forecast_horizon_hours)
    at = render("facility")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("fac-001 · newest 1-minute total ") for c in at.caption)
    assert [h.value for h in at.subheader][:4] == ["Weather", "Sheddable load forecast", "BMS command history",
                                                   "Manual load profile"]
    assert any(c.value.startswith(f"provider {stored.provider} · fetched ") for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Temperature this hour"].endswith(" °C")
    assert metrics["A DR event over the forecast horizon could count on"].endswith(" kW")
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 2  # load against the band, and the weather


def test_a_csv_without_kw_is_refused_with_the_reason_and_nothing_stored(settings: Settings) -> None:
    at = render("facility")
    at = _upload(at, "ui-test-bad.csv", b"ts,power\n2026-12-01T00:00:00Z,10\n")
    assert not at.exception
    assert any(e.value == "Not uploaded: ui-test-bad.csv: missing column(s) kw (need ts, kw)" for e in at.error)
    assert not at.success
    at = _upload(at, "ui-test-bad.csv", b"ts,kw\nyesterday,10\n")
    assert any("column ts has values that are not ISO 8601 timestamps" in e.value for e in at.error)


def test_an_uploaded_profile_becomes_the_forecast_and_its_sheddable_load(settings: Settings,
                                                                          last_facility: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    csv = "ts,kw,p10,p90\n" + "".join(f"{(start + timedelta(minutes=5 * i)).isoformat()},{200 + i},{180 + i},"
                                      f"{230 + i}\n" for i in range(12))  # 5-minute rows -> four 15-minute steps
    at = render("facility")
    at.selectbox[0].set_value(last_facility).run()
    at = _upload(at, "ui-test-profile.csv", csv.encode())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == [
        f"4 manual steps for {last_facility} from {start:%Y-%m-%d %H:%M} to "
        f"{start + timedelta(minutes=45):%Y-%m-%d %H:%M} UTC stored."]
    db = postgres.engine(settings)
    with db.connect() as conn:
        steps = [dict(r) for r in conn.execute(text(
            "SELECT ts, p10, p50, p90, generated_at, source FROM load_forecasts WHERE facility_id = :f "
            "AND model_version = 'manual:ui-test-profile.csv' ORDER BY ts"), {"f": last_facility}).mappings()]
        expected = sheddable(conn, settings, last_facility, steps)
    db.dispose()
    assert [round(s["p50"], 3) for s in steps] == [201.0, 204.0, 207.0, 210.0]  # means of three 5-minute rows
    # The page, rerun after the upload, shows the sheddable load of the profile it just stored.
    shown = {m.label: m.value for m in at.metric}["A DR event over the forecast horizon could count on"]
    assert shown == f"{expected['window_kw']:,.0f} kW"
    assert any(c.value.startswith("forecast quality model (x1.00) · from the forecast issued ") for c in at.caption)
