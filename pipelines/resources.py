"""Dagster resources for the stores: PostgreSQL (control plane) and QuestDB (time series).

Each resource holds only non-secret connection settings, visible in the Dagster UI, and
hands the store clients of `sems.stores` a `Settings` with those values; secrets (the
PostgreSQL password) still come from the one settings object, never from resource config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from dagster import ConfigurableResource
from sqlalchemy import Connection

from sems.archive.store import ArchiveStore, open_store
from sems.settings import Settings, get_settings
from sems.stores import postgres, questdb


class PostgresResource(ConfigurableResource):  # type: ignore[misc]
    """The control-plane database: facilities, meters, forecasts."""

    host: str
    port: int
    database: str
    user: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresResource:
        return cls(
            host=settings.host, port=settings.postgres_port, database=settings.postgres_db,
            user=settings.postgres_user, timeout_s=settings.postgres_timeout_s,
        )

    def store_settings(self) -> Settings:
        # port_offset=0: these ports are final, an offset in the environment must not shift them again.
        return Settings(
            port_offset=0, host=self.host, postgres_port=self.port, postgres_db=self.database,
            postgres_user=self.user, postgres_timeout_s=self.timeout_s,
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One connection in one transaction, committed when the block ends without error."""
        engine = postgres.engine(self.store_settings())
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            engine.dispose()


class QuestDBResource(ConfigurableResource):  # type: ignore[misc]
    """The time-series store: raw readings and load rollups."""

    host: str
    http_port: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> QuestDBResource:
        return cls(host=settings.host, http_port=settings.questdb_http_port, timeout_s=settings.questdb_timeout_s)

    def store_settings(self) -> Settings:
        return Settings(
            port_offset=0, host=self.host, questdb_http_port=self.http_port, questdb_timeout_s=self.timeout_s
        )

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of `sql` as dicts (SQL over HTTP, with this resource's timeout)."""
        return questdb.query(self.store_settings(), sql)


class ForecastingResource(ConfigurableResource):  # type: ignore[misc]
    """Shape of the issued forecasts: how far ahead, in which steps."""

    horizon_hours: int
    step_minutes: int
    tracking_uri: str = ""  # MLflow; empty: no model, the fallback forecast
    model_name: str = "load_forecaster"

    @classmethod
    def from_settings(cls, settings: Settings) -> ForecastingResource:
        return cls(horizon_hours=settings.forecast_horizon_hours, step_minutes=settings.forecast_step_minutes,
                   tracking_uri=settings.mlflow_url)

    @property
    def horizon(self) -> timedelta:
        return timedelta(hours=self.horizon_hours)

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.step_minutes)


class ArchiveResource(ConfigurableResource):  # type: ignore[misc]
    """The archive store: a local directory or an `s3://` URL (credentials stay in the settings)."""

    root: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveResource:
        return cls(root=settings.archive_url)

    def settings(self) -> Settings:
        return get_settings().model_copy(update={"archive_root": self.root})

    def store(self) -> ArchiveStore:
        return open_store(self.settings(), self.root)


def resources(settings: Settings) -> dict[str, ConfigurableResource]:
    """Every resource the assets use, keyed by the parameter name they are requested under."""
    return {
        "postgres": PostgresResource.from_settings(settings),
        "questdb": QuestDBResource.from_settings(settings),
        "forecasting": ForecastingResource.from_settings(settings),
        "archive": ArchiveResource.from_settings(settings),
    }
