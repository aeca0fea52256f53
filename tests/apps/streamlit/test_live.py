"""The live page rendered with AppTest against the running test stack, and with a store down."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from apps.streamlit.data import age_text
from sems.facilities import demo_fleet
from sems.settings import Settings, get_settings
from sems.stores import questdb
from tests.support import wait_until

APP = str(Path(__file__).resolve().parents[3] / "apps" / "streamlit" / "app.py")


def _render() -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(APP, default_timeout=60).run()


def _readings_of_every_facility(settings: Settings, fleet: list[str]) -> bool:
    rows = questdb.query(settings, "SELECT DISTINCT facility_id FROM readings")
    return set(fleet) <= {r["facility_id"] for r in rows}


def test_live_page_shows_every_facility_with_the_age_of_its_newest_reading(settings: Settings) -> None:
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    wait_until(lambda: _readings_of_every_facility(settings, [f.facility_id for f in fleet]),
               timeout_s=120, what="a reading from every demo facility")
    at = _render()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert {f.name for f in fleet} <= {s.value for s in at.subheader}
    captions = [c.value for c in at.caption]
    for facility in fleet:
        assert any(c.startswith(f"{facility.facility_id} · last reading ") and c.endswith(" ago") for c in captions)


def test_a_store_down_is_a_banner_not_a_traceback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    try:
        with monkeypatch.context() as env:
            # The page's own settings: QuestDB on a port where nothing listens, PostgreSQL as the stack's.
            env.setenv("SEMS_PORT_OFFSET", "0")
            env.setenv("SEMS_POSTGRES_PORT", str(settings.postgres_port))
            env.setenv("SEMS_QUESTDB_HTTP_PORT", str(closed))
            get_settings.cache_clear()
            at = _render()
    finally:
        # Whoever asks next gets the stack's settings again.
        get_settings.cache_clear()
        st.cache_resource.clear()
    assert not at.exception
    assert any(e.value.startswith("QuestDB: ") for e in at.error)
    # Facilities still come from PostgreSQL, each flagged as having no fresh reading.
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    assert {f.name for f in fleet} <= {s.value for s in at.subheader}
    assert any("no reading yet" in w.value for w in at.warning)


def test_age_text_reads_like_an_analyst_would_say_it() -> None:
    now = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
    assert age_text(now - timedelta(seconds=12), now) == "last reading 12 s ago"
    assert age_text(now - timedelta(minutes=10), now) == "last reading 10 min ago"
    assert age_text(now - timedelta(hours=5), now) == "last reading 5 h ago"
    assert age_text(now + timedelta(seconds=3), now) == "last reading 0 s ago"  # clock skew is not negative age
    assert age_text(None, now) == "no reading yet"
