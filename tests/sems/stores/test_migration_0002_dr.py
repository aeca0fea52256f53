"""Migration 0002_dr on a scratch database: the saga's new states survive a downgrade as their nearest old state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sems.settings import Settings
from sems.stores import postgres

NEW_TABLES = {"dr_webhook_deliveries", "dr_bms_commands", "dr_outbox"}


@pytest.fixture
def scratch(settings: Settings) -> Iterator[str]:
    name = f"sems_dr_migration_{uuid.uuid4().hex[:8]}"
    admin = postgres.engine(settings).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_0002_dr_upgrade_downgrade_upgrade(settings: Settings, scratch: str) -> None:
    postgres.migrate(settings, "0002_dr", database=scratch)
    db = postgres.engine(settings, scratch)
    try:
        assert NEW_TABLES <= set(sa.inspect(db).get_table_names())
        with db.begin() as conn:
            conn.execute(sa.text("INSERT INTO dr_events (event_id, utility_id, status, starts_at, ends_at,"
                                 " target_reduction_kw, payload) VALUES ('e1', 'u', 'releasing', now(),"
                                 " now() + interval '1 hour', 1, '{}')"))
        postgres.downgrade(settings, "0001", database=scratch)
        assert not NEW_TABLES & set(sa.inspect(db).get_table_names())
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT status FROM dr_events")).scalar_one() == "active"
        postgres.migrate(settings, "0002_dr", database=scratch)
        assert postgres.current_revision(settings, scratch) == "0002_dr"
    finally:
        db.dispose()
