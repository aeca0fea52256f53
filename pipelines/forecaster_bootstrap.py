"""The forecaster bootstrap sensor: train as soon as there is enough history and no champion yet.

The weekly schedule would leave a fresh stack (or one whose history was just backfilled)
on the fallback forecast for up to a week. This sensor asks MLflow whether
`load_forecaster@champion` exists and QuestDB how many days `facility_load_1m` spans;
with no champion and at least `train_days + 2` days it requests one training run per
UTC day (run_key), so a rejected candidate is not retrained every tick.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from assets.forecaster import ALIAS, MODEL_NAME
from assets.training import TrainingConfig
from pipelines.resources import QuestDBResource
from sems.settings import Settings, get_settings

JOB = "load_forecaster_training_job"


def champion(tracking_uri: str, model_name: str, timeout_s: float = 5.0) -> tuple[bool | None, str]:
    """(True/False whether the alias exists, "") or (None, why MLflow could not say)."""
    try:
        httpx.get(f"{tracking_uri}/health", timeout=timeout_s).raise_for_status()
    except httpx.HTTPError as exc:
        return None, f"MLflow unreachable at {tracking_uri}: {exc}"
    try:
        MlflowClient(tracking_uri).get_model_version_by_alias(model_name, ALIAS)
    except MlflowException:
        return False, ""
    return True, ""


def history_days(questdb: QuestDBResource) -> float:
    """Days between the oldest and newest 1-minute facility rollup (0 without any)."""
    row = questdb.query("SELECT min(ts) AS first, max(ts) AS last FROM facility_load_1m")[0]
    if not row["first"]:
        return 0.0
    first, last = (datetime.fromisoformat(str(row[k]).replace("Z", "+00:00")) for k in ("first", "last"))
    return (last - first).total_seconds() / 86400


def decide(has_champion: bool | None, why: str, days: float, needed: int, today: str) -> RunRequest | SkipReason:
    """The tick's outcome (a pure function)."""
    if has_champion is None:
        return SkipReason(why)
    if has_champion:
        return SkipReason(f"{MODEL_NAME}@{ALIAS} exists: the weekly schedule retrains")
    if days < needed:
        return SkipReason(f"{days:.1f} days of history, training needs {needed}")
    return RunRequest(run_key=f"bootstrap-{today}", job_name=JOB, tags={"sems/reason": "no champion yet"})


def bootstrap_tick(settings: Settings, questdb: QuestDBResource, model_name: str = MODEL_NAME
                   ) -> RunRequest | SkipReason:
    has, why = champion(settings.mlflow_url, model_name)
    days = history_days(questdb) if has is False else 0.0
    return decide(has, why, days, TrainingConfig().train_days + 2, datetime.now(UTC).date().isoformat())


@sensor(name="forecaster_bootstrap", job_name=JOB, minimum_interval_seconds=600,
        default_status=DefaultSensorStatus.RUNNING,
        description="Trains the forecaster once history suffices while there is no champion yet.")
def forecaster_bootstrap(context: SensorEvaluationContext, questdb: QuestDBResource) -> RunRequest | SkipReason:
    return bootstrap_tick(get_settings(), questdb)
