"""The fleet overview in a real browser (Debian's chromium, headless): what a person would read on screen.

Chromium is driven over the DevTools protocol: after the page rendered, `document.body.innerText`
is exactly the visible text, so the test checks names, percentages and ages as shown.
"""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stack import installers
from tests.support import wait_until

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def chromium() -> str:
    installers.ensure_debian_packages(["chromium"], present=shutil.which("chromium") is not None)
    return str(shutil.which("chromium"))


@pytest.fixture
def devtools(chromium: str, settings: Settings, tmp_path: Path) -> Iterator[ClientConnection]:
    """A fresh headless chromium showing the UI, and a DevTools connection to its page."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://{settings.host}:{settings.streamlit_port}/"
    browser = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={tmp_path}", f"--remote-debugging-port={port}",
                                url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ws_url = wait_until(lambda: _page_socket(port), timeout_s=60, what="chromium's DevTools endpoint")
        with connect(str(ws_url), max_size=None, open_timeout=30) as conn:
            yield conn
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def _page_socket(port: int) -> str | None:
    try:
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return next((p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page"), None)


def _visible_text(conn: ClientConnection) -> str:
    request_id = next(_ids)
    conn.send(json.dumps({"id": request_id, "method": "Runtime.evaluate",
                          "params": {"expression": "document.body ? document.body.innerText : ''"}}))
    while True:
        message = json.loads(conn.recv(timeout=30))
        if message.get("id") == request_id:
            return str(message["result"]["result"].get("value", ""))


def test_a_person_sees_every_facility_with_load_share_and_age(settings: Settings, devtools: ClientConnection) -> None:
    names = [f.name for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]

    def rendered() -> str | None:
        text = _visible_text(devtools)
        return text if all(n in text for n in names) and "refreshing every" in text else None

    text = wait_until(rendered, timeout_s=90, interval_s=1.0, what="the overview table in the browser")
    assert text is not None and "Fleet overview" in text
    assert "% of contract" in text and "Data age" in text and " ago" in text
    for nav in ("Facility", "DR events", "Data quality", "Models"):
        assert nav in text  # the navigation a person uses to go on
