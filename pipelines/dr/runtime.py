"""Building a saga from the settings: engine, BMS gateway, notifier (used by the Dagster ops and the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.dr import store
from pipelines.dr.notify import ManagerNotifier
from pipelines.dr.saga import Saga
from sems.bms.gateway import BmsGateway
from sems.settings import Settings
from sems.stores import postgres


@contextmanager
def saga_for(settings: Settings) -> Iterator[Saga]:
    """A saga bound to `settings`; its database engine is disposed afterwards."""
    # One worker thread per facility (up to bms_max_parallel_facilities) writes its command records: enough
    # connections that a busy database never makes a healthy facility time out waiting for the pool.
    engine = postgres.engine(settings, pool_size=max(5, min(settings.bms_max_parallel_facilities, 64) // 4))
    try:
        with engine.connect() as conn:
            addresses = store.bms_addresses(conn)
        yield Saga(settings, engine, BmsGateway(settings, addresses=addresses), ManagerNotifier(settings, engine))
    finally:
        engine.dispose()
