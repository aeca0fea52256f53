"""Shared fixtures of the store tests: scratch databases on the test stack's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from sems.settings import Settings
from sems.stores import postgres


@contextmanager
def scratch_database(settings: Settings, prefix: str) -> Iterator[str]:
    """A fresh, empty database on the stack's server, dropped (forcibly) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = postgres.engine(settings).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
