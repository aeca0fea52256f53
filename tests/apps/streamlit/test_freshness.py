"""Honest freshness (S1): ages as an analyst reads them, and a store down as a banner without its numbers."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st

from apps.streamlit.freshness import ago, is_stale
from sems.facilities import demo_fleet
from sems.settings import Settings, get_settings
from tests.apps.streamlit.conftest import render


def test_ages_read_like_an_analyst_would_say_them(settings: Settings) -> None:
    now = datetime.now(UTC)
    assert ago(now - timedelta(seconds=12)) in {"12 s ago", "13 s ago"}
    assert ago(now - timedelta(minutes=10)) == "10 min ago"
    assert ago(now - timedelta(hours=5)) == "5 h ago"
    assert ago(now + timedelta(seconds=3)) == "0 s ago"  # clock skew is not a negative age
    assert ago(None) == "never"
    assert not is_stale(now - timedelta(seconds=settings.ui_stale_after_s - 5))
    assert is_stale(now - timedelta(seconds=settings.ui_stale_after_s + 1)) and is_stale(None)


def test_questdb_down_is_an_error_banner_and_no_load_numbers(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    try:
        with monkeypatch.context() as env:
            # The page's own settings: QuestDB on a port where nothing listens, the rest as the stack's.
            env.setenv("SEMS_PORT_OFFSET", "0")
            for name in ("postgres_port", "kafka_port", "mlflow_port"):
                env.setenv(f"SEMS_{name.upper()}", str(getattr(settings, name)))
            env.setenv("SEMS_QUESTDB_HTTP_PORT", str(closed))
            get_settings.cache_clear()
            at = render("overview")
    finally:
        get_settings.cache_clear()  # whoever asks next gets the stack's settings again
        st.cache_resource.clear()
    assert not at.exception
    assert any(e.value.startswith("QuestDB: ") and "not shown" in e.value for e in at.error)
    table = at.table[0].value
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    assert len(table) == len(fleet)  # facilities still come from PostgreSQL
    assert table["Load kW"].isna().all() and (table["Data age"] == "never").all()  # nothing old shown as current
    assert any("Stale data" in w.value for w in at.warning)
    assert any("refreshing every 5 s" in c.value for c in at.caption)  # a failing store: fast refresh
