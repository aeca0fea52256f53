"""Dagster of the local stack: a code server per code location, the webserver and the daemon.

The repository's `dagster_home/dagster.yaml` is copied into `<state>/dagster_home` before
each start and `DAGSTER_HOME` points there, so the dev and test stacks never share run
history, schedule state or daemon heartbeats.

Each code location is served by a long-lived `dagster api grpc` process of its own, and the
webserver and daemon read a workspace (`<state>/dagster_home/workspace.yaml`) of `grpc_server`
entries. Left to load `python_module` locations themselves, the daemon replaces its code
servers every 60 s (it clears them on each workspace refresh), and every replacement imports
the whole project again: seconds of CPU per location per minute on a two-core machine, and the
latency spikes that came with them. A code change therefore needs the code servers restarted
(`sems stack down dagster-code dagster-code-dr` then `sems stack up`). The repository's
`workspace.yaml` lists the same locations for `dagster dev` outside the stack.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from sems.settings import Settings
from sems.stack import process
from sems.stack.health import http_link, http_probe, tcp_open
from sems.stack.service import BATCH_NICE, Service, StackError, run_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
# Code location name -> (module, settings field of its code server's port); workspace.yaml lists the same.
CODE_LOCATIONS = {
    "sems": ("pipelines.definitions", "dagster_code_port"),
    "sems_dr": ("pipelines.dr.definitions", "dagster_dr_code_port"),
}
INSTANCE_CONFIG = REPO_ROOT / "dagster_home" / "dagster.yaml"
# Daemons heartbeat every 30 s; allow a missed beat on a busy two-core machine.
HEARTBEAT_MAX_AGE_S = 120.0


def dagster_home(settings: Settings) -> Path:
    """The Dagster instance directory of this stack."""
    return settings.state / "dagster_home"


def _prepare(settings: Settings) -> None:
    if not INSTANCE_CONFIG.exists():
        raise StackError(f"{INSTANCE_CONFIG} is missing: restore it (`git checkout dagster_home/dagster.yaml`)")
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    entries = [{"grpc_server": {"host": settings.host, "port": getattr(settings, port), "location_name": name}}
               for name, (_module, port) in CODE_LOCATIONS.items()]
    workspace(settings).write_text(
        "# Written by `sems stack up` (sems/stack/dagster.py): the stack's code servers.\n"
        + json.dumps({"load_from": entries}, indent=2) + "\n", encoding="utf-8")  # JSON is YAML


def workspace(settings: Settings) -> Path:
    """The workspace file the stack's webserver and daemon read."""
    return dagster_home(settings) / "workspace.yaml"


def _env(settings: Settings) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(dagster_home(settings)),
        "DAGSTER_GRPC_TIMEOUT_SECONDS": str(settings.dagster_grpc_timeout_s),
    }


def _venv_script(name: str) -> str:
    """A console script installed beside this interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / name)


def daemon_healthy(settings: Settings) -> bool:
    """True if every daemon the instance requires has sent a heartbeat since this daemon process started."""
    record = process.read_record(run_dir(settings), DAEMON.name)
    if record is None or not (dagster_home(settings) / "dagster.yaml").exists():
        return False
    # Imported here: dagster takes a second to import and only this probe needs it.
    from dagster import DagsterInstance

    since = max(record.started_at, time.time() - HEARTBEAT_MAX_AGE_S)
    try:
        with DagsterInstance.from_config(str(dagster_home(settings))) as instance:
            heartbeats = instance.get_daemon_heartbeats()
            required = instance.get_required_daemon_types()
    except Exception:  # noqa: BLE001 - a probe answers yes or no; the daemon's log has the detail
        return False
    return all(t in heartbeats and heartbeats[t].timestamp >= since for t in required)


def _code_server_healthy(port_setting: str):  # type: ignore[no-untyped-def]
    def healthy(settings: Settings) -> bool:
        port = getattr(settings, port_setting)
        # Not listening while it still imports the project; a gRPC probe then would print every refused attempt.
        if not tcp_open(settings.host, port):
            return False
        from dagster._grpc.client import DagsterGrpcClient  # imported here: only this probe needs it

        try:
            client = DagsterGrpcClient(port=port, host=settings.host)
            return bool(client.health_check_query() == "SERVING")
        except Exception:  # noqa: BLE001 - a probe answers yes or no; the server's log has the detail
            return False

    return healthy


def _code_server(name: str, location: str, nice: int) -> Service:
    module, port_setting = CODE_LOCATIONS[location]
    return Service(
        name=name,
        port_setting=port_setting,
        command=lambda s: [sys.executable, "-m", "dagster", "api", "grpc", "-m", module, "-d", str(REPO_ROOT),
                           "--location-name", location, "-h", s.host, "-p", str(getattr(s, port_setting)),
                           "--log-level", "warning"],
        healthy=_code_server_healthy(port_setting),
        url=lambda s: f"grpc://{s.host}:{getattr(s, port_setting)}",
        prepare=_prepare,
        env=_env,
        # Importing the project (XGBoost, MLflow, Beam transforms) takes a while on a busy machine.
        start_timeout_s=240.0,
        nice=nice,  # and so every run it launches
    )


CODE_SERVER = _code_server("dagster-code", "sems", BATCH_NICE)  # forecasting, training, archives: batch
# Demand response is the control path, not batch: a dispatch run commands buildings against a deadline.
DR_CODE_SERVER = _code_server("dagster-code-dr", "sems_dr", 0)

WEBSERVER = Service(
    name="dagster-webserver",
    port_setting="dagster_port",
    command=lambda s: [
        _venv_script("dagster-webserver"), "-w", str(workspace(s)), "-h", s.host, "-p", str(s.dagster_port),
    ],
    healthy=http_probe("dagster_port", "/server_info"),
    url=http_link("dagster_port"),
    prepare=_prepare,
    env=_env,
    nice=BATCH_NICE,
)

DAEMON = Service(
    name="dagster-daemon",
    # The daemon listens on nothing; status shows the webserver's port, where its health is visible too.
    port_setting="dagster_port",
    binds_port=False,
    command=lambda s: [_venv_script("dagster-daemon"), "run", "-w", str(workspace(s))],
    healthy=daemon_healthy,
    url=http_link("dagster_port", "/health"),
    prepare=_prepare,
    env=_env,
    nice=0,  # it launches DR runs too (see docs/operations.md, CPU priorities)
)

SERVICES = [CODE_SERVER, DR_CODE_SERVER, WEBSERVER, DAEMON]
