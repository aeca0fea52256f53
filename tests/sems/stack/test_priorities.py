"""The running stack's CPU priorities: batch services (forecasting code server, Dagster UI, MLflow) yield to the
hot path (API, bridge, job) and to demand response (its code server and the daemon that launches its runs)."""

from __future__ import annotations

import os

from sems.settings import Settings
from sems.stack import process
from sems.stack.service import run_dir

HOT_PATH = ("api", "bridge", "beam-job", "dagster-code-dr", "dagster-daemon")
BATCH = ("dagster-code", "dagster-webserver", "mlflow")


def _priority(settings: Settings, name: str) -> int:
    record = process.read_record(run_dir(settings), name)
    assert record is not None and record.alive(), f"{name} is not running"
    return os.getpriority(os.PRIO_PROCESS, record.pid)


def test_batch_services_run_below_the_hot_path(settings: Settings) -> None:
    hot = {name: _priority(settings, name) for name in HOT_PATH}
    batch = {name: _priority(settings, name) for name in BATCH}
    assert max(hot.values()) < min(batch.values()), (hot, batch)
