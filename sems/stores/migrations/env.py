"""Alembic environment of the control-plane schema: runs on the engine that `sems.stores.postgres` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

# Any constant works; it only has to be the same for every process that migrates this database.
MIGRATION_LOCK_KEY = 0x5E45_0001


def run_migrations_online() -> None:
    db = context.config.attributes.get("engine")
    if not isinstance(db, Engine):
        raise RuntimeError("run migrations through sems.stores.postgres.migrate(settings), not the alembic CLI")
    with db.connect() as connection:
        context.configure(connection=connection, target_metadata=None, compare_type=True)
        with context.begin_transaction():
            # Two processes migrating at once (stack start and a test) must not interleave DDL.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; migrate a live database")
run_migrations_online()
