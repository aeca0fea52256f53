"""Building a saga from the settings: engine, BMS gateway, notifier (used by the Dagster ops and the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.dr.notify import ManagerNotifier
from pipelines.dr.saga import Saga
from sems.bms.gateway import BmsGateway
from sems.settings import Settings
from sems.stores import postgres


@contextmanager
def saga_for(settings: Settings) -> Iterator[Saga]:
    """A saga bound to `settings`; its database engine is disposed afterwards."""
    engine = postgres.engine(settings)
    try:
        yield Saga(settings, engine, BmsGateway(settings), ManagerNotifier(settings, engine))
    finally:
        engine.dispose()
