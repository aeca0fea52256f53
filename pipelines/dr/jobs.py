"""The DR jobs Dagster runs: `dr_dispatch` (plan and command an event) and `dr_release` (restore its devices).

Each is one op around the saga, which keeps its own state in PostgreSQL: re-executing a
failed run resumes the saga where it stopped.
"""

from dagster import Config, OpExecutionContext, job, op

from pipelines.dr.report import deliver, enqueue
from pipelines.dr.runtime import saga_for
from pipelines.dr.verify import verify
from pipelines.resources import PostgresResource
from sems.settings import Settings, get_settings


def saga_settings(postgres: PostgresResource) -> Settings:
    """The process settings (BMS, SMTP, DR tunables) with the database the resource names."""
    return get_settings().model_copy(update={"postgres_port": postgres.port, "postgres_db": postgres.database,
                                             "postgres_user": postgres.user, "postgres_timeout_s": postgres.timeout_s})


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
def release_dr_event(context: OpExecutionContext, config: ReleaseConfig, postgres: PostgresResource) -> str:
    """Restore every device the event changed, then measure the achieved reduction and report it to the utility."""
    settings = saga_settings(postgres)
    with saga_for(settings) as saga:
        status = saga.release(config.event_id, config.reason, trace_id=context.run_id.replace("-", ""))
        if status in ("completed", "failed"):
            # Devices are restored first; measuring and reporting may be retried by re-executing the run.
            measured = verify(saga.engine, settings, config.event_id)
            enqueue(saga.engine, settings, config.event_id, measured)
            deliver(saga.engine, settings)
    context.log.info(f"DR event {config.event_id} released ({config.reason}): {status}")
    return status

@job(tags={"domain": "demand_response"})
def dr_dispatch() -> None:
    dispatch_dr_event()

@job(tags={"domain": "demand_response"})
def dr_release() -> None:
    release_dr_event()
