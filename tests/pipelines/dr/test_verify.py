"""Verification from meter data, the report outbox to the utility's callback, and the reconciliation alert."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from pipelines.dr.report import deliver, enqueue
from pipelines.dr.verify import reconcile, verify
from sems.settings import Settings
from sems.stores import questdb
from tests.pipelines.dr.conftest import make_event
from tests.support import wait_until


class Utility:
    """A local stand-in for the utility's report endpoint: records what it was sent, answers 200."""

    def __init__(self, host: str) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/openadr3/reports"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def utility(settings: Settings) -> Iterator[Utility]:
    server = Utility(settings.host)
    yield server
    server.server.shutdown()


def _window() -> tuple[datetime, datetime]:
    start = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
    return start, start + timedelta(minutes=30)


def _meter(settings: Settings, facility_id: str, start: datetime, kw: float) -> None:
    frame = pd.DataFrame({"ts": pd.date_range(start, periods=30, freq="1min"), "facility_id": facility_id,
                          "kw_avg": kw, "kw_min": kw, "kw_max": kw, "kwh": kw / 60, "readings": 4, "meters": 4,
                          "updated_at": pd.Timestamp.now(tz="UTC")})
    questdb.write_frame(settings, "facility_load_1m", frame, symbols=["facility_id"], at="ts")


def test_achieved_reduction_is_measured_reported_and_reconciled(
    settings: Settings, engine: Engine, utility: Utility,
) -> None:
    start, end = _window()
    event_id = make_event(engine, ["fac-002"], callback_url=utility.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE dr_events SET starts_at = :s, ends_at = :e WHERE event_id = :eid"),
                     {"s": start, "e": end, "eid": event_id})
        conn.execute(text("INSERT INTO load_forecasts (facility_id, ts, generated_at, p10, p50, p90, model_version,"
                          " source) SELECT 'fac-002', t, :g, 380, 400, 420, 'test', 'model'"
                          " FROM generate_series(CAST(:s AS timestamptz), :e - interval '15 minutes',"
                          " interval '15 minutes') AS t"), {"g": start - timedelta(minutes=1) , "s": start, "e": end})
    _meter(settings, "fac-002", start, 350.0)
    measured = wait_until(lambda: verify(engine, settings, event_id)["fac-002"]["minutes"] == 30 and
                          verify(engine, settings, event_id), timeout_s=60, what="the meter data to be queryable")
    assert measured["fac-002"]["achieved_kw"] == pytest.approx(50.0)
    assert enqueue(engine, settings, event_id, measured) == utility.url
    assert deliver(engine, settings) >= 1
    (report,) = [r for r in utility.received if r["eventID"] == event_id]
    payloads = {p["type"]: p["values"][0] for p in report["resources"][0]["intervals"][0]["payloads"]}
    assert payloads == {"BASELINE": pytest.approx(400.0), "DELTA_USAGE": pytest.approx(-50.0)}
    assert reconcile(engine, settings, event_id) == []
    _meter(settings, "fac-002", start, 380.0)  # late, corrected meter data: only 20 kW were shed
    wait_until(lambda: reconcile(engine, settings, event_id) == ["fac-002"], timeout_s=60,
               what="the reconciliation alert")
