"""Honest freshness (S1) on every page: ages, stale banners, error banners for a store that is down, refresh cadence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import text

from apps.streamlit import data
from apps.streamlit.freshness import ago, is_stale
from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stores import postgres, questdb
from tests.apps.streamlit.conftest import dead, load_of_every_facility, render, render_with
from tests.support import wait_until

LIVE_PAGES = ["overview", "facility", "dr_events", "data_quality", "models"]


def test_ages_read_like_an_analyst_would_say_them(settings: Settings) -> None:
    now = datetime.now(UTC)
    assert ago(now - timedelta(seconds=12)) in {"12 s ago", "13 s ago"}
    assert ago(now - timedelta(minutes=10)) == "10 min ago"
    assert ago(now - timedelta(hours=5)) == "5 h ago"
    assert ago(now + timedelta(seconds=3)) == "0 s ago"  # clock skew is not a negative age
    assert ago(None) == "never"
    assert not is_stale(now - timedelta(seconds=settings.ui_stale_after_s - 5))
    assert is_stale(now - timedelta(seconds=settings.ui_stale_after_s + 1)) and is_stale(None)


@pytest.mark.parametrize("page", LIVE_PAGES)
def test_every_page_says_when_it_was_updated_and_how_often_it_refreshes(page: str) -> None:
    at = render(page)
    assert not at.exception, at.exception
    assert any(c.value.startswith("Updated ") and " UTC · refreshing every " in c.value for c in at.caption)


@pytest.mark.parametrize("page", ["overview", "facility", "dr_events", "data_quality"])
def test_postgres_down_is_an_error_banner_and_a_fast_retry_on_every_page(
    page: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = render_with(page, monkeypatch, **dead(settings, "postgres_port"))
    assert not at.exception, at.exception
    assert any(e.value.startswith("PostgreSQL: ") and "not shown" in e.value for e in at.error)
    assert any("refreshing every 5 s" in c.value for c in at.caption)  # a failing store: fast refresh
    # No PostgreSQL table shown from an old read; on the data page Kafka's and the archive's stay.
    assert not [f for f in at.dataframe if {"generated_at", "event_id", "idempotency_key"} & set(f.value.columns)]


def test_mlflow_down_is_an_error_banner_without_a_champion(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    at = render_with("models", monkeypatch, **dead(settings, "mlflow_port"))
    assert not at.exception
    assert any(e.value.startswith("MLflow: ") for e in at.error)
    assert not [s for s in at.subheader if "(champion)" in s.value]


def test_questdb_down_is_an_error_banner_and_no_load_numbers(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = render_with("overview", monkeypatch, **dead(settings, "questdb_http_port"))
    assert not at.exception
    assert any(e.value.startswith("QuestDB: ") and "not shown" in e.value for e in at.error)
    table = at.table[0].value
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    assert len(table) == len(fleet)  # facilities still come from PostgreSQL
    assert table["Load kW"].isna().all() and (table["Data age"] == "never").all()  # nothing old shown as current
    assert any("Stale data" in w.value for w in at.warning)
    assert any("refreshing every 5 s" in c.value for c in at.caption)


@pytest.mark.parametrize("page", ["overview", "facility"])
def test_data_older_than_the_limit_gets_a_stale_banner(page: str, settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]
    wait_until(lambda: load_of_every_facility(settings, fleet), timeout_s=120, what="load of every facility")
    fresh = render(page)
    assert not [w for w in fresh.warning if w.value.startswith("Stale data")], "live data flagged stale"
    # Any age at all is too old: with 0.5 s, a run that had just ended (lineage stamped at the run's
    # end since session 7) made the newest total younger than the limit now and then.
    at = render_with(page, monkeypatch, ui_stale_after_s="0")
    assert any(w.value.startswith("Stale data") for w in at.warning)


def test_high_load_refreshes_every_5_s(monkeypatch: pytest.MonkeyPatch) -> None:
    calm = render_with("overview", monkeypatch, ui_high_load_ratio="1000")
    if not _acting_event():  # another test's DR event in progress also (rightly) means 5 s
        assert any("refreshing every 15 s" in c.value for c in calm.caption)
    busy = render_with("overview", monkeypatch, ui_high_load_ratio="0")  # every facility is "above 0 %"
    assert any("refreshing every 5 s" in c.value for c in busy.caption)


@pytest.fixture
def active_event(settings: Settings) -> Iterator[str]:
    """A DR event in state `active` for fac-001 that ends in two hours (nothing releases it before), then gone."""
    event_id, now = f"ui-active-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    db = postgres.engine(settings)
    with db.begin() as conn:
        conn.execute(text("""INSERT INTO dr_events (event_id, utility_id, status, starts_at, ends_at,
                             target_reduction_kw, payload) VALUES (:e, 'ui-test', 'active', :s, :t, 10, :p)"""),
                     {"e": event_id, "s": now - timedelta(minutes=5), "t": now + timedelta(hours=2), "p": "{}"})
        conn.execute(text("""INSERT INTO dr_event_facilities (event_id, facility_id, state, target_reduction_kw)
                             VALUES (:e, 'fac-001', 'active', 10)"""), {"e": event_id})
    try:
        yield event_id
    finally:
        with db.begin() as conn:
            conn.execute(text("DELETE FROM dr_events WHERE event_id = :e"), {"e": event_id})
        db.dispose()


def test_an_active_dr_event_refreshes_every_5_s(active_event: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = render_with("dr_events", monkeypatch, ui_high_load_ratio="1000")  # only the event can make it fast
    assert any(active_event in w.value for w in at.warning)
    assert any("refreshing every 5 s" in c.value for c in at.caption)


def test_a_failed_read_is_retried_at_once_and_then_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = data._pg_once

    def fails_once(sql: str, params: dict[str, object]) -> list[dict[str, object]]:
        calls.append(sql)
        if len(calls) == 1:
            raise data.StoreUnavailable("PostgreSQL: connection reset (injected)")
        return real(sql, params)

    monkeypatch.setattr(data, "_pg_once", fails_once)
    at = render("dr_events")
    assert not at.exception and not at.error, [e.value for e in at.error]  # the retry answered within this run
    assert calls[0] == calls[1]  # the same query, again, at once


def _acting_event() -> bool:
    from apps.streamlit import data_dr

    data_dr.active_dr_facilities.clear()
    return bool(set(data_dr.active_dr_facilities().values()) & set(data_dr.ACTING))


def test_a_meter_clock_running_ahead_does_not_make_old_data_look_fresh(settings: Settings) -> None:
    """Ages count from when SEMS received the reading, and minutes ahead of now are not 'current'."""
    facility_id = f"ui-skew-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    past, ahead, received = now - timedelta(minutes=10), now + timedelta(minutes=3), now - timedelta(minutes=9)
    minutes = pl.DataFrame({"ts": [past, ahead], "facility_id": [facility_id] * 2, "kw_avg": [10.0, 11.0]})
    questdb.write_frame(settings, "facility_load_1m", minutes)
    skewed = pl.DataFrame({"ts": [ahead], "facility_id": [facility_id], "meter_id": ["m1"], "kw": [11.0]})
    questdb.write_frame(settings, "readings", skewed)
    message = pl.DataFrame({"ts": [ahead], "facility_id": [facility_id], "trace_id": ["t-skew"], "meter_id": ["m1"],
                            "last_ts": [ahead], "readings": [1], "ingested_at": [received]})
    questdb.write_frame(settings, "reading_lineage", message)

    def current() -> dict[str, object] | None:
        data.current_load.clear()
        return data.current_load().get(facility_id)

    load = wait_until(current, what="the scratch facility's minutes in QuestDB")
    assert load is not None and load["ts"] == past  # the minute ahead of now is not shown as current
    until = load["until"]
    assert isinstance(until, datetime) and until <= received + timedelta(seconds=1)
    assert is_stale(until)
