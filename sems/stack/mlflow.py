"""MLflow tracking server of the local stack: SQLite backend and a local artifact store under the state dir.

MLflow's server job execution is off (`SERVER_JOBS`): SEMS tracks runs and registers models, it
runs no MLflow server jobs (GenAI scorers, prompt optimisation, trace rollups), yet with it on
the server starts seven huey consumer processes that held 2.1 GB of memory and took ~60 CPU-s
in their first four minutes on a two-core machine whose hot path needs both cores.
An `MLFLOW_SERVER_ENABLE_JOB_EXECUTION` in the environment still wins.
"""

from __future__ import annotations

import os

from sems.settings import Settings
from sems.stack.controller import python_module
from sems.stack.health import http_link, http_probe
from sems.stack.service import BATCH_NICE, Service, data_dir


def _command(settings: Settings) -> list[str]:
    root = data_dir(settings, "mlflow")
    return python_module(
        "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        # Artifacts are proxied by the server (mlflow-artifacts:/), so clients need no file access.
        "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
        "--host", settings.host, "--port", str(settings.mlflow_port),
        # MLflow 3 rejects Host headers other than localhost (DNS-rebinding guard): allow the configured host.
        "--allowed-hosts", ",".join(f"{h}{p}" for h in (settings.host, "localhost", "127.0.0.1")
                                    for p in ("", f":{settings.mlflow_port}")),
        # One worker: this runs on two cores beside everything else.
        "--workers", "1",
    )


SERVER_JOBS = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def _env(settings: Settings) -> dict[str, str]:
    return {SERVER_JOBS: os.environ.get(SERVER_JOBS, "false")}


SERVICE = Service(
    name="mlflow",
    port_setting="mlflow_port",
    command=_command,
    env=_env,
    healthy=http_probe("mlflow_port", "/health"),
    url=http_link("mlflow_port"),
    # The first start migrates a fresh SQLite database, which takes a while.
    start_timeout_s=240.0,
    nice=BATCH_NICE,  # its UI and registry are not on the hot path (see Service.nice)
)
