"""Helpers of the UI tests: render a page with AppTest against the running stack, with cold caches."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from sems.settings import Settings, get_settings
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


def render_with(page: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    """`render(page)` with these SEMS_* settings changed (e.g. a store on a dead port), then the stack's again."""
    try:
        with monkeypatch.context() as patched:
            for name, value in env.items():
                patched.setenv(f"SEMS_{name.upper()}", value)
            get_settings.cache_clear()
            return render(page)
    finally:
        get_settings.cache_clear()  # whoever asks next gets the stack's settings again
        st.cache_resource.clear()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead(settings: Settings, port: str) -> dict[str, str]:
    """Settings (for `render_with`) with every port as the stack's except `port`, where nothing listens."""
    ports = {name: str(getattr(settings, name)) for name in type(settings).model_fields if name.endswith("_port")}
    return {"port_offset": "0", **ports, port: str(closed_port())}
