"""Registering backtested models in the real MLflow server of the stack: the champion gate."""

from __future__ import annotations

import uuid

import mlflow
import xgboost as xgb
from mlflow import MlflowClient

from assets.forecaster import ALIAS, refit, register, train_and_register
from ml import backtest, features
from sems.settings import Settings
from tests.ml.history import START, facilities_frame, simulated_history, small_fleet


def test_champion_moves_only_for_a_better_model(settings: Settings) -> None:
    fleet = small_fleet(3)
    load, weather = simulated_history(fleet, START, 40)
    result = backtest.run(load, weather, facilities_frame(fleet), train_days=35, rounds=20)
    name = f"load_forecaster_test_{uuid.uuid4().hex[:8]}"  # a fresh registry entry per test run

    first = register(settings.mlflow_url, result, train_days=35, rounds=20, model_name=name)
    assert first.promoted, first.reason
    client = MlflowClient(settings.mlflow_url)
    assert client.get_model_version_by_alias(name, ALIAS).version == first.version
    run = client.get_run(first.run_id)
    assert run.data.metrics["model_cv_rmse"] == result.metrics["model"]["cv_rmse"]
    assert "four_week_average_pinball" in run.data.metrics
    assert run.data.params["training_rows"] == str(result.model.rows) != "0"  # below the cap: every known row
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"backtest.png", "feature_importance.json"} <= artifacts

    # The same model again does not beat the champion (equal is not better): the alias stays.
    second = register(settings.mlflow_url, result, train_days=35, rounds=20, model_name=name)
    assert not second.promoted and "champion (cv_rmse" in second.reason
    assert client.get_model_version_by_alias(name, ALIAS).version == first.version
    assert client.get_model_version(name, second.version).tags["promotion"] == second.reason

    # Forecasting loads the champion by alias and gets the same predictions as the trained booster.
    mlflow.set_tracking_uri(settings.mlflow_url)
    champion = mlflow.xgboost.load_model(f"models:/{name}@{ALIAS}")
    rows = result.predictions.head(8).select("facility_id", "ts")
    feats = features.build(rows, load, weather, facilities_frame(fleet)).select(features.FEATURES).to_numpy()
    loaded = champion.predict(xgb.DMatrix(feats, feature_names=features.FEATURES))
    expected = result.model.booster.predict(xgb.DMatrix(feats, feature_names=features.FEATURES))
    assert (loaded == expected).all()


def test_the_registered_version_is_refitted_on_the_whole_window(settings: Settings) -> None:
    fleet = small_fleet(3)
    load, weather = simulated_history(fleet, START, 40)
    facilities = facilities_frame(fleet)
    name = f"load_forecaster_test_{uuid.uuid4().hex[:8]}"

    outcome = train_and_register(settings.mlflow_url, load, weather, facilities, train_days=35, rounds=20,
                                 model_name=name)

    assert outcome.promoted, outcome.reason  # the gate judged the backtest (35 days) ...
    params = MlflowClient(settings.mlflow_url).get_run(outcome.run_id).data.params
    assert params["registered_refit"] == "True"
    assert int(params["registered_training_rows"]) > int(params["training_rows"])  # ... the version has all 40
    mlflow.set_tracking_uri(settings.mlflow_url)
    champion = mlflow.xgboost.load_model(f"models:/{name}@{ALIAS}")
    feats = features.build(load.tail(8), load, weather, facilities).select(features.FEATURES).to_numpy()
    expected = refit(load, weather, facilities, rounds=20).booster  # seeded: the same fit again
    data = xgb.DMatrix(feats, feature_names=features.FEATURES)
    assert (champion.predict(data) == expected.predict(data)).all()
