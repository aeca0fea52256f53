"""The DR code location: dispatch, release, report delivery and reconciliation, their sensors and schedule.

A location of its own (`sems_dr` in workspace.yaml) so that a DR run's process imports only what
DR needs (Dagster, SQLAlchemy, zeep): the forecasting and archive assets bring XGBoost, MLflow,
scikit-learn and pandas, tens of seconds of imports on a busy machine before the first BMS command.
"""

from dagster import Definitions

from pipelines.dr.jobs import dr_dispatch, dr_reconciliation, dr_release, dr_report_delivery
from pipelines.dr.schedules import dr_reconciliation_schedule
from pipelines.dr.sensors import dr_inbox_sensor, dr_outbox_sensor
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import get_settings

defs = Definitions(
    jobs=[dr_dispatch, dr_release, dr_report_delivery, dr_reconciliation],
    sensors=[dr_inbox_sensor, dr_outbox_sensor],
    schedules=[dr_reconciliation_schedule],
    resources={"postgres": PostgresResource.from_settings(get_settings()),
               "questdb": QuestDBResource.from_settings(get_settings())},
)
