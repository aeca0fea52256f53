"""The DR jobs Dagster runs: `dr_dispatch` (plan and command an event), `dr_release` (restore its devices),
`dr_report_delivery` (POST due reports to the utilities) and `dr_reconciliation` (re-check recorded reductions).

Each is one op around plain functions that keep their state in PostgreSQL: re-executing a
failed run resumes where it stopped. One op needs no process of its own: the op runs in the run's
process (`in_process_executor`), so a dispatch does not pay for a second interpreter and its imports.
"""

from dagster import Config, Failure, MetadataValue, OpExecutionContext, in_process_executor, job, op
from sqlalchemy import text

from pipelines.dr.report import deliver, enqueue
from pipelines.dr.runtime import saga_for
from pipelines.dr.verify import reconcile, verify
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import Settings, get_settings
from sems.stores import postgres as postgres_store


def saga_settings(postgres: PostgresResource, questdb: QuestDBResource | None = None) -> Settings:
    """The process settings (BMS, SMTP, DR tunables) with the database (and QuestDB) the resources name."""
    update = {"postgres_port": postgres.port, "postgres_db": postgres.database, "postgres_user": postgres.user,
              "postgres_timeout_s": postgres.timeout_s}
    if questdb is not None:
        update |= {"questdb_http_port": questdb.http_port, "questdb_timeout_s": questdb.timeout_s}
    return get_settings().model_copy(update=update)


class DispatchConfig(Config):  # type: ignore[misc]
    event_id: str

class ReleaseConfig(Config):  # type: ignore[misc]
    event_id: str
    reason: str = "ended"

@op
def dispatch_dr_event(context: OpExecutionContext, config: DispatchConfig, postgres: PostgresResource) -> str:
    """Plan the event on the forecast's P10 and command every facility's BMS; the saga's resulting status."""
    with saga_for(saga_settings(postgres)) as saga:
        status = saga.dispatch(config.event_id, trace_id=context.run_id.replace("-", ""))
    context.log.info(f"DR event {config.event_id}: {status}")
    return status

@op
def release_dr_event(context: OpExecutionContext, config: ReleaseConfig, postgres: PostgresResource,
                     questdb: QuestDBResource) -> str:
    """Restore every device the event changed, then measure the achieved reduction and report it to the utility."""
    settings = saga_settings(postgres, questdb)
    with saga_for(settings) as saga:
        status = saga.release(config.event_id, config.reason, trace_id=context.run_id.replace("-", ""))
        if status in ("completed", "failed"):
            # Devices are restored first; measuring and reporting may be retried by re-executing the run.
            measured = verify(saga.engine, settings, config.event_id)
            enqueue(saga.engine, settings, config.event_id, measured)
            deliver(saga.engine, settings)
    context.log.info(f"DR event {config.event_id} released ({config.reason}): {status}")
    return status

# Dispatch and release leave the run queue before anything else waiting there (a utility's clock is running).
URGENT = {"domain": "demand_response", "dagster/priority": "10"}


@job(tags=URGENT, executor_def=in_process_executor)
def dr_dispatch() -> None:
    dispatch_dr_event()

@job(tags=URGENT, executor_def=in_process_executor)
def dr_release() -> None:
    release_dr_event()


@op
def deliver_dr_reports(context: OpExecutionContext, postgres: PostgresResource) -> int:
    """POST every due report to its utility; how many were acknowledged (the rest back off and wait)."""
    settings = saga_settings(postgres)
    engine = postgres_store.engine(settings)
    try:
        delivered = deliver(engine, settings)
        with engine.connect() as conn:
            waiting = conn.execute(text("SELECT count(*) FROM dr_outbox WHERE delivered_at IS NULL")).scalar_one()
    finally:
        engine.dispose()
    context.add_output_metadata({"acknowledged": delivered, "unacknowledged": int(waiting)})
    return delivered

@job(tags={"domain": "demand_response"}, executor_def=in_process_executor)
def dr_report_delivery() -> None:
    deliver_dr_reports()

class ReconciliationConfig(Config):  # type: ignore[misc]
    event_ids: list[str] = []  # empty: every event verified and ended in the last `dr_reconciliation_days`

@op
def reconcile_dr_events(context: OpExecutionContext, config: ReconciliationConfig, postgres: PostgresResource,
                        questdb: QuestDBResource) -> int:
    """Re-measure the recently verified events from fresh meter data; fail (alert) past the tolerance."""
    settings = saga_settings(postgres, questdb)
    engine = postgres_store.engine(settings)
    try:
        with engine.connect() as conn:
            events = config.event_ids or list(conn.execute(text(
                "SELECT event_id FROM dr_events WHERE verification IS NOT NULL AND status IN ('completed', 'failed')"
                " AND ends_at > now() - make_interval(days => :days) ORDER BY ends_at"),
                {"days": settings.dr_reconciliation_days}).scalars())
        alerts = {event_id: off for event_id in events if (off := reconcile(engine, settings, event_id))}
    finally:
        engine.dispose()
    metadata: dict[str, MetadataValue] = {"events_checked": MetadataValue.int(len(events)),
                                          "events_off": MetadataValue.int(len(alerts)),
                                          "discrepancies": MetadataValue.json(alerts)}
    if alerts:
        # A failed run is the alert Dagster shows (and run-failure sensors forward); the audit rows keep the detail.
        raise Failure(description=f"{len(alerts)} DR event(s) differ from fresh meter data by more than "
                                  f"{settings.dr_reconciliation_tolerance:.0%}: {', '.join(sorted(alerts))}",
                      metadata=metadata)
    context.add_output_metadata(metadata)
    return len(events)

@job(tags={"domain": "demand_response"}, executor_def=in_process_executor)
def dr_reconciliation() -> None:
    reconcile_dr_events()
