"""Helpers of the UI tests: render a page with AppTest against the running stack, with cold caches."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from sems.settings import Settings
from sems.stores import questdb

APP_DIR = Path(__file__).resolve().parents[3] / "apps" / "streamlit"


def render(page: str) -> AppTest:
    """Run `app_pages/<page>.py` (or `app.py`) once, as a browser session would, with empty caches."""
    st.cache_data.clear()
    st.cache_resource.clear()
    path = APP_DIR / ("app.py" if page == "app" else f"app_pages/{page}.py")
    return AppTest.from_file(str(path), default_timeout=90).run()


def load_of_every_facility(settings: Settings, fleet: list[str]) -> bool:
    rows = questdb.query(settings, "SELECT DISTINCT facility_id FROM facility_load_1m")
    return set(fleet) <= {r["facility_id"] for r in rows}
