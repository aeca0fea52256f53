"""Alembic migrations of the control plane (M3): upgrade, downgrade and upgrade again on a scratch database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from sems.settings import Settings
from sems.stores import postgres
from tests.sems.stores.conftest import scratch_database

TABLES = {"facilities", "meters", "load_forecasts", "dr_events", "dr_event_facilities", "dr_inbox", "dr_audit_log"}
TABLES |= {"dr_webhook_deliveries", "dr_bms_commands", "dr_outbox"}  # 0002_dr
TABLES |= {"dr_event_intervals"}  # 0003_dr_baselines
TABLES |= {"dr_reconciliations"}  # 0005_dr_reconciliations (0004 adds facilities.bms_url)
# 0006_forecast_raw_band adds load_forecasts.band_margin


@pytest.fixture(scope="module")
def scratch(settings: Settings) -> Iterator[str]:
    with scratch_database(settings, "sems_migrations") as name:
        yield name


def _tables(settings: Settings, database: str) -> set[str]:
    db = postgres.engine(settings, database)
    try:
        return set(sa.inspect(db).get_table_names()) - {"alembic_version"}
    finally:
        db.dispose()


def test_upgrade_downgrade_upgrade_round_trip(settings: Settings, scratch: str) -> None:
    postgres.migrate(settings, database=scratch)
    assert _tables(settings, scratch) == TABLES
    assert postgres.current_revision(settings, scratch) == postgres.head_revision()

    postgres.downgrade(settings, "base", database=scratch)
    assert _tables(settings, scratch) == set()
    assert postgres.current_revision(settings, scratch) is None

    postgres.migrate(settings, database=scratch)
    postgres.migrate(settings, database=scratch)  # already at head: a no-op, not an error
    assert _tables(settings, scratch) == TABLES
    assert postgres.current_revision(settings, scratch) == postgres.head_revision()


@pytest.fixture()
def migrated(settings: Settings, scratch: str) -> Iterator[sa.Engine]:
    postgres.migrate(settings, database=scratch)
    db = postgres.engine(settings, scratch)
    with db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO facilities (facility_id, name, country, timezone, latitude, longitude, contract_demand_kw) "
            "VALUES ('fac-x', 'X', 'US', 'UTC', 0, 0, 100) ON CONFLICT DO NOTHING"
        ))
    yield db
    db.dispose()


def _forecast(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "facility_id": "fac-x", "ts": datetime(2025, 1, 1, tzinfo=UTC), "generated_at": datetime.now(UTC),
        "p10": 1.0, "p50": 2.0, "p90": 3.0, "model_version": "seasonal-naive", "source": "model", "q": 0.9,
    }
    row.update(overrides)
    return row


_INSERT_FORECAST = sa.text(
    "INSERT INTO load_forecasts (facility_id, ts, generated_at, p10, p50, p90, model_version, source, "
    "data_quality_score) VALUES (:facility_id, :ts, :generated_at, :p10, :p50, :p90, :model_version, :source, :q)"
)


def test_forecasts_keep_history_and_reject_nonsense(migrated: sa.Engine) -> None:
    with migrated.begin() as conn:
        conn.execute(_INSERT_FORECAST, _forecast(generated_at=datetime(2024, 12, 31, tzinfo=UTC)))
        conn.execute(_INSERT_FORECAST, _forecast(generated_at=datetime(2024, 12, 31, 1, tzinfo=UTC), p50=2.5))
        history = conn.execute(sa.text("SELECT count(*) FROM load_forecasts WHERE facility_id = 'fac-x'")).scalar()
    assert history == 2
    for bad in (_forecast(source="guess"), _forecast(p10=5.0), _forecast(q=1.5), _forecast(facility_id="nowhere")):
        with pytest.raises(IntegrityError), migrated.begin() as conn:
            conn.execute(_INSERT_FORECAST, bad)


def test_forecasts_keep_their_raw_band_and_margin(settings: Settings, scratch: str,
                                                               migrated: sa.Engine) -> None:
    issued = datetime(2024, 12, 30, tzinfo=UTC)
    with migrated.begin() as conn:
        conn.execute(_INSERT_FORECAST, _forecast(generated_at=issued))  # fallback, manual, older writers: NULL
        conn.execute(sa.text("INSERT INTO load_forecasts (facility_id, ts, generated_at, p10, p50, p90, model_version, "
                             "source, raw_p10, raw_p90, band_margin) VALUES ('fac-x', :ts, :g, 1, 2, 3, 'm/1', "
                             "'model', 1.5, 2.5, 0.012)"), {"ts": datetime(2025, 1, 2, tzinfo=UTC), "g": issued})
        stored = conn.execute(sa.text("SELECT raw_p10, raw_p90, band_margin FROM load_forecasts "
                                      "WHERE generated_at = :g ORDER BY ts"), {"g": issued}).all()
    assert [tuple(row) for row in stored] == [(None, None, None), (1.5, 2.5, 0.012)]
    postgres.downgrade(settings, "0005_dr_reconciliations", database=scratch)  # the rows stay, the columns go
    with migrated.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM load_forecasts WHERE generated_at = :g"),
                            {"g": issued}).scalar() == 2
    postgres.migrate(settings, database=scratch)
    columns = {c["name"] for c in sa.inspect(migrated).get_columns("load_forecasts")}
    assert {"raw_p10", "raw_p90", "band_margin"} <= columns


def test_inbox_accepts_each_event_revision_once(migrated: sa.Engine) -> None:
    insert = sa.text(
        "INSERT INTO dr_inbox (event_id, revision, payload) VALUES ('evt-1', 1, '{}') "
        "ON CONFLICT (event_id, revision) DO NOTHING RETURNING id"
    )
    with migrated.begin() as conn:
        first = conn.execute(insert).fetchall()
        again = conn.execute(insert).fetchall()
    assert len(first) == 1
    assert again == []


def test_audit_log_is_append_only(migrated: sa.Engine) -> None:
    with migrated.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO dr_audit_log (event_id, actor, transition) VALUES ('evt-1', 'test', 'pending->dispatching')"
        ))
    for statement in ("UPDATE dr_audit_log SET actor = 'mallory'", "DELETE FROM dr_audit_log", "TRUNCATE dr_audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
            conn.execute(sa.text(statement))
    with migrated.connect() as conn:
        assert conn.execute(sa.text("SELECT actor FROM dr_audit_log")).scalars().all() == ["test"]
