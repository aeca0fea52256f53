"""The MLflow service of the stack: its server runs without MLflow's job runners, and still serves."""

from __future__ import annotations

import httpx
import psutil
import pytest

from sems.settings import Settings
from sems.stack import mlflow, process
from sems.stack.service import run_dir


def test_server_starts_no_job_runners(settings: Settings) -> None:
    record = process.read_record(run_dir(settings), "mlflow")
    assert record is not None and record.alive()
    tree = psutil.Process(record.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in tree]
    assert commands, "the MLflow server should run its web workers as children"
    assert not [command for command in commands if "huey" in command], commands


def test_job_execution_can_still_be_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert mlflow.SERVICE.env(settings) == {mlflow.SERVER_JOBS: "false"}
    monkeypatch.setenv(mlflow.SERVER_JOBS, "true")
    assert mlflow.SERVICE.env(settings) == {mlflow.SERVER_JOBS: "true"}


def test_server_answers_the_tracking_api(settings: Settings) -> None:
    response = httpx.post(
        f"{settings.mlflow_url}/api/2.0/mlflow/experiments/search", json={"max_results": 1}, timeout=10.0
    )
    assert response.status_code == 200, response.text
