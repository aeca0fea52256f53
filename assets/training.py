"""Training the load forecaster in Dagster: `training_set` (history + weather) and `load_forecaster`.

`load_forecaster` backtests on the window, refits on all of it (the registered version is
not two weeks stale when it goes live), logs and registers through
`assets.forecaster.train_and_register`; its
blocking check `beats_champion_and_baselines` fails when the new version was not promoted,
with the gate's reason as metadata, so nothing downstream of a rejected model runs.
"""

from datetime import UTC, datetime, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from assets.forecaster import train_and_register
from assets.forecasts import fleet, load_history
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource
from sems.weather.replay import ReplayProvider

CHECK = "beats_champion_and_baselines"


class TrainingWindow(Config):  # type: ignore[misc]
    """The history to train and backtest on; `until` empty = now (UTC, ISO 8601)."""

    days: int = 56
    until: str = ""


class TrainingConfig(Config):  # type: ignore[misc]
    train_days: int = 42  # the rest of the window is the backtest
    rounds: int = 200


def weather_history(facilities: pl.DataFrame, since: datetime, until: datetime) -> pl.DataFrame:
    """Hourly weather per facility over the window (TMY replay: no archive of observed weather yet)."""
    provider = ReplayProvider()
    return pl.concat([provider.between(f["latitude"], f["longitude"], since, until)
                      .with_columns(facility_id=pl.lit(f["facility_id"]))
                      for f in facilities.iter_rows(named=True)])


@asset(group_name="training", kinds={"python", "questdb"})
def training_set(
    config: TrainingWindow, postgres: PostgresResource, questdb: QuestDBResource, forecasting: ForecastingResource,
) -> Output[dict[str, pl.DataFrame]]:
    """Quarter-hourly load, hourly weather and facility attributes of the training window."""
    until = datetime.fromisoformat(config.until) if config.until else datetime.now(UTC)
    since = until - timedelta(days=config.days)
    facilities = fleet(postgres)
    load = load_history(questdb, since, forecasting.step, until).join(
        facilities.select("facility_id"), on="facility_id")
    weather = weather_history(facilities, since, until)
    return Output({"load": load, "weather": weather, "facilities": facilities}, metadata={
        "since": since.isoformat(), "until": until.isoformat(), "load_rows": load.height,
        "facilities_with_load": load["facility_id"].n_unique() if load.height else 0,
    })


@asset(group_name="training", kinds={"python", "xgboost", "mlflow"},
       check_specs=[AssetCheckSpec(CHECK, asset="load_forecaster", blocking=True,
                                   description="The new version beats the champion and both baselines.")])
def load_forecaster(
    context: AssetExecutionContext, config: TrainingConfig, forecasting: ForecastingResource,
    training_set: dict[str, pl.DataFrame],
) -> MaterializeResult:
    """A new registered version of the forecaster; `champion` moves only if the gate says so."""
    outcome = train_and_register(forecasting.tracking_uri, training_set["load"], training_set["weather"],
                                 training_set["facilities"], train_days=config.train_days, rounds=config.rounds,
                                 model_name=forecasting.model_name)
    context.log.info(outcome.reason)
    metrics = {f"{m}_{k}": v for m, values in outcome.metrics.items() for k, v in values.items()}
    return MaterializeResult(
        metadata={"version": outcome.version, "run_id": outcome.run_id, "promoted": outcome.promoted,
                  "reason": outcome.reason, "metrics": MetadataValue.json(metrics)},
        check_results=[AssetCheckResult(check_name=CHECK, passed=outcome.promoted, metadata={
            "reason": outcome.reason, "version": outcome.version,
            "model_cv_rmse": outcome.metrics["model"]["cv_rmse"]})],
    )
