"""The DR reconciliation alert on the API's /metrics: checks recorded in PostgreSQL, counted at scrape time."""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from pipelines.dr import store
from sems.settings import Settings
from sems.stores import postgres
from tests.apps.api.conftest import Get


@pytest.fixture()
def engine(settings: Settings) -> Iterator[Engine]:
    db = postgres.engine(settings)
    yield db
    db.dispose()


@pytest.fixture()
def event_id(engine: Engine) -> Iterator[str]:
    """A verified, completed event of the past (nothing in the stack acts on it); removed afterwards."""
    event_id = f"recon-{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_events (event_id, utility_id, status, starts_at, ends_at,"
                          " target_reduction_kw, payload) VALUES (:eid, 'test', 'completed', now() - interval '1 day',"
                          " now() - interval '23 hours', 50, '{}')"), {"eid": event_id})
    yield event_id
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dr_events WHERE event_id = :eid"), {"eid": event_id})  # cascades to its checks


def _gauge(api_get: Get, name: str) -> float:
    body = api_get("/metrics", bearer=None).text
    match = re.search(rf"^{name} (\S+)$", body, re.M)
    assert match, f"{name} is not exposed"
    return float(match.group(1))


def _check(engine: Engine, event_id: str, facility_id: str, fresh_kw: float, off: bool) -> None:
    check: dict[str, Any] = {"facility_id": facility_id, "recorded_kw": 50.0, "fresh_kw": fresh_kw,
                             "discrepancy": abs(fresh_kw - 50.0) / 50.0}
    with engine.begin() as conn:
        store.record_reconciliation(conn, event_id, check, off)


def test_a_discrepancy_is_on_metrics_until_a_later_clean_check_clears_it(
    api_get: Get, engine: Engine, event_id: str,
) -> None:
    before = _gauge(api_get, "sems_dr_reconciliation_discrepancies")
    assert not math.isnan(before)
    _check(engine, event_id, "fac-001", fresh_kw=20.0, off=True)
    _check(engine, event_id, "fac-002", fresh_kw=51.0, off=False)
    assert _gauge(api_get, "sems_dr_reconciliation_discrepancies") == before + 1
    assert _gauge(api_get, "sems_dr_reconciliation_last_check_timestamp_seconds") == pytest.approx(time.time(), abs=120)

    _check(engine, event_id, "fac-001", fresh_kw=49.0, off=False)  # the late readings were corrected again
    assert _gauge(api_get, "sems_dr_reconciliation_discrepancies") == before
