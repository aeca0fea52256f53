"""The daily DR reconciliation where operators look: gauges on the API's /metrics, computed from PostgreSQL at scrape.

The reconciliation runs in a Dagster run process that nothing scrapes; it records every check in
`dr_reconciliations`. A facility counts as a discrepancy while its latest check (within
`dr_reconciliation_days`) is past the tolerance; a later clean check clears it. Alert rule:
`sems_dr_reconciliation_discrepancies > 0`.
"""

from __future__ import annotations

import logging

from prometheus_client import Gauge
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from sems.resilience import CircuitBreaker, CircuitOpenError
from sems.settings import Settings

log = logging.getLogger(__name__)

DISCREPANCIES = Gauge("sems_dr_reconciliation_discrepancies", "DR event facilities whose latest reconciliation "
                      "differs from fresh meter data past the tolerance (NaN: the database did not answer)")
LAST_CHECK = Gauge("sems_dr_reconciliation_last_check_timestamp_seconds",
                   "When the latest DR reconciliation check was made (0: none within the reconciliation days)")

_LATEST = text("""
    SELECT count(*) FILTER (WHERE off) AS off, coalesce(extract(epoch FROM max(checked_at)), 0) AS last
    FROM (SELECT DISTINCT ON (event_id, facility_id) off, checked_at FROM dr_reconciliations
          WHERE checked_at > now() - make_interval(days => :days)
          ORDER BY event_id, facility_id, checked_at DESC) AS latest
""")


def refresh(engine: Engine, settings: Settings, guard: CircuitBreaker) -> None:
    """Set the gauges from the latest checks, through the API's PostgreSQL breaker (an open one answers at once);
    NaN when PostgreSQL cannot say, so no alert fires on stale figures."""
    def latest() -> tuple[float, float]:
        with engine.connect() as conn:
            row = conn.execute(_LATEST, {"days": settings.dr_reconciliation_days}).one()
        return float(row.off), float(row.last)

    try:
        off, last = guard.call(latest)
    except (SQLAlchemyError, CircuitOpenError) as exc:
        log.warning("DR reconciliation gauges not refreshed", extra={"fields": {"error": str(exc)}})
        off = last = float("nan")
    DISCREPANCIES.set(off)
    LAST_CHECK.set(last)
