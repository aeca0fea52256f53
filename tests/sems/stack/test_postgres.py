"""The stack's PostgreSQL: a private, durable cluster reachable only where the settings say."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from sems.settings import Settings
from sems.stack.postgres import SERVICE, socket_dir
from sems.stores import postgres


def _show(settings: Settings, *names: str) -> dict[str, str]:
    db = postgres.engine(settings)
    try:
        with db.connect() as conn:
            return {n: conn.execute(sa.text(f"SHOW {n}")).scalar_one() for n in names}
    finally:
        db.dispose()


def test_healthy_and_at_the_latest_schema(settings: Settings) -> None:
    assert SERVICE.healthy(settings)
    assert postgres.current_revision(settings) == postgres.head_revision()


def test_server_is_private_and_durable(settings: Settings) -> None:
    shown = _show(settings, "listen_addresses", "fsync", "synchronous_commit", "port")
    assert shown["listen_addresses"] == settings.host
    # The unix socket (trusted, superuser) lives in a private dir of the state dir, not in /var/run.
    assert (socket_dir(settings) / f".s.PGSQL.{settings.postgres_port}").is_socket()
    assert socket_dir(settings).is_relative_to(settings.state)
    assert socket_dir(settings).stat().st_mode & 0o077 == 0
    assert (shown["fsync"], shown["synchronous_commit"]) == ("on", "on")
    assert int(shown["port"]) == settings.postgres_port


def test_clients_get_a_statement_timeout(settings: Settings) -> None:
    expected_ms = int(settings.postgres_statement_timeout_s * 1000)
    db = postgres.engine(settings)
    try:
        with db.connect() as conn:
            shown = conn.execute(sa.text("SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'"))
            assert shown.scalar_one() == expected_ms
    finally:
        db.dispose()


def test_wrong_password_is_refused(settings: Settings) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=settings.host, port=settings.postgres_port, user=settings.postgres_user,
            password="not-the-password", dbname=settings.postgres_db, connect_timeout=5,
        )
