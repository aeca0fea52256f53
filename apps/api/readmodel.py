"""Data access of the read API: every PostgreSQL and QuestDB query it runs, counted and guarded.

PostgreSQL calls go through one circuit breaker (C1): after a few consecutive failures
the API stops asking and fails fast until a probe succeeds. Every query increments
`sems_api_store_queries_total{store,query}`, so "how often did we hit the database" is
a fact the stampede test and an operator can read from `/metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import Counter
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from apps.api.sheddable import sheddable
from sems.resilience import CircuitBreaker, CircuitOpenError
from sems.settings import Settings
from sems.stores import questdb

STORE_QUERIES = Counter("sems_api_store_queries_total", "Queries the API sent to a store", ["store", "query"])
FACILITY_ID = r"^[A-Za-z0-9_-]{1,64}$"  # also what makes an id safe inside QuestDB SQL text
_FACILITY_ID = re.compile(FACILITY_ID)
T = TypeVar("T")

_SQL = {
    "facilities": """
        SELECT f.facility_id, f.name, f.contract_demand_kw, f.timezone, f.country, count(m.meter_id) AS meter_count
        FROM facilities f LEFT JOIN meters m ON m.facility_id = f.facility_id
        GROUP BY f.facility_id ORDER BY f.facility_id""",
    "facility": "SELECT facility_id, name, contract_demand_kw FROM facilities WHERE facility_id = :fid",
    "forecast": """
        SELECT ts, p10, p50, p90, generated_at, model_version, source FROM load_forecasts
        WHERE facility_id = :fid
          AND generated_at = (SELECT max(generated_at) FROM load_forecasts WHERE facility_id = :fid)
        ORDER BY ts""",
    "dr_events": """
        SELECT e.event_id, e.utility_id, e.status, e.starts_at, e.ends_at, f.state,
               f.target_reduction_kw, f.achieved_reduction_kw, f.updated_at
        FROM dr_event_facilities f JOIN dr_events e USING (event_id)
        WHERE f.facility_id = :fid ORDER BY e.starts_at DESC LIMIT 100""",
}


class StoreUnavailable(Exception):
    """A store could not answer; `retry_after_s` is when asking again makes sense."""

    def __init__(self, store: str, detail: str, retry_after_s: float) -> None:
        super().__init__(f"{store} is unavailable: {detail}")
        self.store = store
        self.retry_after_s = retry_after_s


def breaker(settings: Settings) -> CircuitBreaker:
    """The API's PostgreSQL breaker: connection-level failures count, SQL mistakes do not."""
    return CircuitBreaker("api-postgres", failure_threshold=settings.api_breaker_failures,
                          reset_timeout_s=settings.api_breaker_reset_s, counts=(DBAPIError,))


class ReadModel:
    """The queries behind the API's resources, on one engine and one breaker."""

    def __init__(self, settings: Settings, engine: Engine, guard: CircuitBreaker) -> None:
        self.settings = settings
        self.engine = engine
        self.guard = guard

    def _pg(self, name: str, **params: Any) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return [dict(row) for row in conn.execute(text(_SQL[name]), params).mappings()]

        return self._guarded(name, run)

    def _guarded(self, name: str, run: Callable[[], T]) -> T:
        """`run()` (one counted PostgreSQL use) through the breaker; `StoreUnavailable` when it cannot answer."""
        def counted() -> T:
            STORE_QUERIES.labels("postgres", name).inc()
            return run()

        try:
            return self.guard.call(counted)
        except CircuitOpenError as exc:
            raise StoreUnavailable("PostgreSQL", "circuit open after repeated failures",
                                   max(1.0, exc.retry_after_s)) from exc
        except SQLAlchemyError as exc:
            detail = str(exc).splitlines()[0][:200]
            raise StoreUnavailable("PostgreSQL", detail, self.settings.api_breaker_reset_s) from exc

    def facilities(self) -> list[dict[str, Any]]:
        return self._pg("facilities")

    def current(self, facility_id: str) -> dict[str, Any] | None:
        """Contract demand (PostgreSQL) and the newest 1-minute load (QuestDB); None for an unknown facility."""
        rows = self._pg("facility", fid=facility_id)
        if not rows:
            return None
        facility = rows[0]
        load = self._latest_load(facility_id)
        kw = load["kw_avg"] if load else None
        return {
            "facility_id": facility_id, "name": facility["name"], "contract_demand_kw": facility["contract_demand_kw"],
            "kw": kw, "ts": load["ts"] if load else None,
            "percent_of_contract": round(100 * kw / facility["contract_demand_kw"], 1) if kw is not None else None,
            "as_of": datetime.now(UTC).isoformat(),
        }

    def _latest_load(self, facility_id: str) -> dict[str, Any] | None:
        if not _FACILITY_ID.match(facility_id):
            raise ValueError(f"not a facility id: {facility_id!r}")
        STORE_QUERIES.labels("questdb", "current").inc()
        try:
            rows = questdb.query(self.settings, f"SELECT ts, kw_avg FROM facility_load_1m WHERE facility_id = "
                                                f"'{facility_id}' LATEST ON ts PARTITION BY facility_id")
        except questdb.QuestDBError as exc:
            raise StoreUnavailable("QuestDB", str(exc)[:200], 5.0) from exc
        return rows[0] if rows else None

    def forecast(self, facility_id: str) -> dict[str, Any] | None:
        if not self._pg("facility", fid=facility_id):
            return None
        steps = self._pg("forecast", fid=facility_id)
        head = steps[0] if steps else {}
        return {
            "facility_id": facility_id, "generated_at": head.get("generated_at"),
            "model_version": head.get("model_version"), "source": head.get("source"),
            "steps": [{k: s[k] for k in ("ts", "p10", "p50", "p90")} for s in steps],
        }

    def sheddable(self, facility_id: str) -> dict[str, Any] | None:
        """The sheddable-load forecast from the latest forecast, as the DR planner computes it."""
        if not self._pg("facility", fid=facility_id):
            return None
        steps = self._pg("forecast", fid=facility_id)

        def compute() -> dict[str, Any]:
            with self.engine.connect() as conn:
                return sheddable(conn, self.settings, facility_id, steps)

        return self._guarded("sheddable", compute)

    def dr_events(self, facility_id: str) -> list[dict[str, Any]] | None:
        if not self._pg("facility", fid=facility_id):
            return None
        return self._pg("dr_events", fid=facility_id)
