"""The overview, the navigation and the models page rendered with AppTest against the running test stack.

The facility, DR and data-quality pages have modules of their own; freshness (S1) on every page: test_freshness.
"""

from __future__ import annotations

from sems.facilities import demo_fleet
from sems.settings import Settings
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


def test_models_page_links_mlflow_and_names_the_champion_or_its_absence(settings: Settings) -> None:
    at = render("models")
    assert not at.exception
    assert at.title[0].value == "Models"
    champion = [s.value for s in at.subheader if "(champion)" in s.value]
    assert champion or any("aliased `champion`" in i.value for i in at.info)
