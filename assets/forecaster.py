"""Training the load forecaster into MLflow: backtest, log, register, and promote only on merit.

`train_and_register` is plain Python (the Dagster asset is a thin wrapper) so tests run
it against the real MLflow server. The version registered is the model refitted on the
whole window (`refit`), not the backtest's, which ends `train_days` into it and would go
live two to three weeks after its training end; the backtest's metrics stand for it. The
`champion` alias of the registered model `load_forecaster` moves only when those metrics
beat both baselines and the current champion (its logged backtest) on CV(RMSE) and
pinball loss; otherwise the run is tagged with the reason and the alias stays where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml import backtest, features
from ml.quantile import QuantileModel, train

MODEL_NAME = "load_forecaster"
ALIAS = "champion"


@dataclass
class TrainingOutcome:
    run_id: str
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, dict[str, float]]


def champion_metrics(client: MlflowClient, model_name: str = MODEL_NAME) -> dict[str, float] | None:
    """Backtest metrics (model_*) of the run behind the current champion, or None without one."""
    try:
        version = client.get_model_version_by_alias(model_name, ALIAS)
    except MlflowException:
        return None
    run = client.get_run(str(version.run_id))
    return {key.removeprefix("model_"): value for key, value in run.data.metrics.items() if key.startswith("model_")}


def _backtest_figure(result: backtest.BacktestResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    facility = result.predictions["facility_id"][0]
    own = result.predictions.filter(pl.col("facility_id") == facility)
    figure, axis = plt.subplots(figsize=(10, 4))
    axis.fill_between(own["ts"].to_list(), own["model_p10"].to_list(), own["model_p90"].to_list(), alpha=0.3,
                      label="model P10-P90")
    axis.plot(own["ts"].to_list(), own["model_p50"].to_list(), label="model P50")
    axis.plot(own["ts"].to_list(), own["kw"].to_list(), label="measured", linewidth=0.8)
    axis.set_title(f"Day-ahead backtest, {facility}")
    axis.legend()
    return figure


def refit(load: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame, *, rounds: int) -> QuantileModel:
    """The model to register: trained and calibrated as in the backtest, on every day of the window."""
    return train(features.build(load, load, weather, facilities), rounds=rounds)


def _log(result: backtest.BacktestResult, train_days: int, rounds: int, model: QuantileModel) -> None:
    mlflow.log_params({"train_days": train_days, "rounds": rounds, "origins": result.origins,
                       "training_rows": result.model.rows,  # after sampling down to MAX_TRAINING_ROWS
                       **{k: str(v) for k, v in result.model.params.items()}})
    mlflow.log_metrics({f"{method}_{name}": value for method, values in result.metrics.items()
                        for name, value in values.items()})
    calibration = result.model.calibration  # CQR: also stored in the booster (attribute cqr_margin)
    mlflow.log_params({k: calibration[k] for k in ("calibration_days", "target_coverage") if k in calibration})
    mlflow.log_metrics({k: calibration[k] for k in ("cqr_margin", "calibration_raw_coverage") if k in calibration})
    # The registered model (refitted on the whole window, or the backtest's own): its rows and stored margin.
    mlflow.log_params({"registered_training_rows": model.rows, "registered_refit": model is not result.model})
    mlflow.log_metrics({f"registered_{k}": model.calibration[k] for k in ("cqr_margin",) if k in model.calibration})
    mlflow.log_dict(result.model.importance(), "feature_importance.json")
    mlflow.log_figure(_backtest_figure(result), "backtest.png")


def train_and_register(
    tracking_uri: str, load: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame,
    *, train_days: int, rounds: int = 200, model_name: str = MODEL_NAME,
) -> TrainingOutcome:
    """Backtest, refit on the whole window, log to MLflow, register; move `champion` only if the backtest is better."""
    result = backtest.run(load, weather, facilities, train_days=train_days, rounds=rounds)
    return register(tracking_uri, result, train_days=train_days, rounds=rounds, model_name=model_name,
                    model=refit(load, weather, facilities, rounds=rounds))


def register(
    tracking_uri: str, result: backtest.BacktestResult, *, train_days: int, rounds: int, model_name: str = MODEL_NAME,
    model: QuantileModel | None = None,
) -> TrainingOutcome:
    """Log a backtest as a run, `model` (default: the backtest's) as a registered version; the gate sets the alias.

    The gate judges the backtest's metrics, also when `model` is the refit on the whole window (`refit`).
    """
    model = result.model if model is None else model
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(model_name)
    client = MlflowClient(tracking_uri)
    with mlflow.start_run() as run:
        _log(result, train_days, rounds, model)
        promoted, reason = backtest.promotion(result.metrics, champion_metrics(client, model_name))
        mlflow.set_tag("promotion", reason)
        info = mlflow.xgboost.log_model(model.booster, name="model", registered_model_name=model_name,
                                        pip_requirements=["xgboost"])  # explicit: skips slow inference
    version = str(info.registered_model_version)
    if promoted:
        client.set_registered_model_alias(model_name, ALIAS, version)
    client.set_model_version_tag(model_name, version, "promotion", reason)
    return TrainingOutcome(run.info.run_id, version, promoted, reason, result.metrics)


def load_champion(tracking_uri: str, model_name: str = MODEL_NAME, timeout_s: float = 5.0) -> tuple[Any, str, str]:
    """(booster, version, "") of `models:/<name>@champion`, or (None, "", why not) without one or without MLflow."""
    import httpx

    if not tracking_uri:
        return None, "", "no MLflow tracking URI configured"
    try:
        # A quick probe first: MLflow's own client retries for minutes against a dead server.
        httpx.get(f"{tracking_uri}/health", timeout=timeout_s).raise_for_status()
    except httpx.HTTPError as exc:
        return None, "", f"MLflow unreachable at {tracking_uri}: {exc}"
    client = MlflowClient(tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, ALIAS)
        mlflow.set_tracking_uri(tracking_uri)
        booster = mlflow.xgboost.load_model(f"models:/{model_name}@{ALIAS}")
    except MlflowException as exc:
        return None, "", f"no {model_name}@{ALIAS}: {str(exc).splitlines()[0]}"
    return booster, f"{model_name}/{version.version}", ""
