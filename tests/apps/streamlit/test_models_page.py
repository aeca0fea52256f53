"""The Models page's feature importance, read from a real MLflow run the way training logs it."""

from __future__ import annotations

import uuid

from mlflow import MlflowClient

from apps.streamlit import data_ops
from sems.settings import Settings


def test_feature_importance_is_read_from_the_runs_artifact_and_absent_when_the_run_has_none(
    settings: Settings,
) -> None:
    client = MlflowClient(settings.mlflow_url)
    experiment = client.create_experiment(f"ui-importance-{uuid.uuid4().hex[:8]}")
    gains = {"lag_1d": 12.5, "temp_c": 3.25, "hour": 0.5}
    with_artifact = client.create_run(experiment).info.run_id
    # The same artifact assets/forecaster.py logs with `mlflow.log_dict`, written through the client:
    # the fluent API's active experiment is process-global, and a training test run before this one in
    # the same process left it on another experiment (start_run then refuses this run).
    client.log_dict(with_artifact, gains, "feature_importance.json")
    client.set_terminated(with_artifact)
    without = client.create_run(experiment).info.run_id

    assert data_ops.feature_importance(client, with_artifact) == gains
    assert data_ops.feature_importance(client, without) == {}
