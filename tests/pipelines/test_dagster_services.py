"""The running Dagster of the test stack: both code servers loaded, the schedule on, the daemons alive."""

from __future__ import annotations

import httpx
import yaml

from sems.settings import Settings
from sems.stack.dagster import CODE_LOCATIONS, REPO_ROOT, daemon_healthy, workspace

QUERY = """{
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
  scheduleOrError(scheduleSelector: {repositoryLocationName: "sems", repositoryName: "__repository__",
                                     scheduleName: "load_forecast_every_15_minutes"}) {
    __typename
    ... on Schedule { scheduleState { status } }
  }
}"""


def test_schedule_is_running_and_every_daemon_is_healthy(settings: Settings) -> None:
    response = httpx.post(f"http://{settings.host}:{settings.dagster_port}/graphql", json={"query": QUERY}, timeout=10)
    data = response.json()["data"]
    assert data["scheduleOrError"]["__typename"] == "Schedule"
    assert data["scheduleOrError"]["scheduleState"]["status"] == "RUNNING"
    locations = {e["name"]: e["loadStatus"] for e in data["workspaceOrError"]["locationEntries"]}
    assert locations == dict.fromkeys(CODE_LOCATIONS, "LOADED"), locations
    statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    assert {s["daemonType"] for s in statuses} >= {"SCHEDULER", "QUEUED_RUN_COORDINATOR"}
    assert all(s["healthy"] for s in statuses), statuses


def test_daemon_probe_agrees(settings: Settings) -> None:
    assert daemon_healthy(settings)


def test_the_stack_serves_the_code_locations_the_repository_workspace_lists(settings: Settings) -> None:
    listed = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())["load_from"]
    assert {e["python_module"]["location_name"]: e["python_module"]["module_name"] for e in listed} == {
        name: module for name, (module, _port) in CODE_LOCATIONS.items()}
    served = yaml.safe_load(workspace(settings).read_text())["load_from"]
    assert [(e["grpc_server"]["location_name"], e["grpc_server"]["port"]) for e in served] == [
        (name, getattr(settings, port)) for name, (_module, port) in CODE_LOCATIONS.items()]
