"""The control-plane database (PostgreSQL): engines and schema migrations.

Every client gets its timeouts from the settings: a connect timeout, and a server-side
statement timeout so a stuck query cannot hold a connection forever. Migrations are
Alembic revisions in `sems/stores/migrations`, configured here in code (no alembic.ini).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from sems.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def url(settings: Settings, database: str | None = None) -> URL:
    """SQLAlchemy URL of the control-plane database (or of `database` on the same server)."""
    base = make_url(settings.postgres_url)
    return base.set(database=database) if database else base


def engine(settings: Settings, database: str | None = None, pool_size: int = 5) -> Engine:
    """A pooled engine (psycopg 3) with connect and statement timeouts from the settings.

    `pool_size` (+ as many overflow connections): raise it for callers with many threads, like
    the DR saga's one worker per facility.
    """
    statement_ms = int(settings.postgres_statement_timeout_s * 1000)
    return create_engine(
        url(settings, database),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=settings.postgres_timeout_s,
        connect_args={
            "connect_timeout": max(1, round(settings.postgres_timeout_s)),
            "options": f"-c statement_timeout={statement_ms}",
            "application_name": "sems",
        },
    )


def alembic_config(db: Engine) -> Config:
    """Alembic configured in code: the packaged migrations, run on `db`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = db
    return config


def migrate(settings: Settings, revision: str = "head", database: str | None = None) -> None:
    """Upgrade the schema to `revision` (latest by default); a no-op when already there."""
    db = engine(settings, database)
    try:
        command.upgrade(alembic_config(db), revision)
    finally:
        db.dispose()


def downgrade(settings: Settings, revision: str, database: str | None = None) -> None:
    """Downgrade the schema to `revision` (`base` removes every table of ours)."""
    db = engine(settings, database)
    try:
        command.downgrade(alembic_config(db), revision)
    finally:
        db.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(settings: Settings, database: str | None = None) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    db = engine(settings, database)
    try:
        with db.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()
