"""MLflow tracking server of the local stack: SQLite backend and a local artifact store under the state dir."""

from __future__ import annotations

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


SERVICE = Service(
    name="mlflow",
    port_setting="mlflow_port",
    command=_command,
    healthy=http_probe("mlflow_port", "/health"),
    url=http_link("mlflow_port"),
    # The first start migrates a fresh SQLite database, which takes a while.
    start_timeout_s=240.0,
    nice=BATCH_NICE,  # its UI and registry are not on the hot path (see Service.nice)
)
