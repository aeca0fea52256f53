"""Migration 0002_dr on a scratch database: the saga's new states survive a downgrade as their nearest old state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sems.settings import Settings
from sems.stores import postgres
from tests.sems.stores.conftest import scratch_database

NEW_TABLES = {"dr_webhook_deliveries", "dr_bms_commands", "dr_outbox"}


@pytest.fixture
def scratch(settings: Settings) -> Iterator[str]:
    with scratch_database(settings, "sems_dr_migration") as name:
        yield name


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
