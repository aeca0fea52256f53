"""Dagster webserver and daemon of the local stack, sharing one instance directory under the state dir.

The repository's `dagster_home/dagster.yaml` is copied into `<state>/dagster_home` before
each start and `DAGSTER_HOME` points there, so the dev and test stacks never share run
history, schedule state or daemon heartbeats.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from sems.settings import Settings
from sems.stack import process
from sems.stack.health import http_link, http_probe
from sems.stack.service import BATCH_NICE, Service, StackError, run_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace.yaml"
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


WEBSERVER = Service(
    name="dagster-webserver",
    port_setting="dagster_port",
    command=lambda s: [
        _venv_script("dagster-webserver"), "-w", str(WORKSPACE), "-h", s.host, "-p", str(s.dagster_port),
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
    command=lambda s: [_venv_script("dagster-daemon"), "run", "-w", str(WORKSPACE)],
    healthy=daemon_healthy,
    url=http_link("dagster_port", "/health"),
    prepare=_prepare,
    env=_env,
    nice=BATCH_NICE,
)

SERVICES = [WEBSERVER, DAEMON]
