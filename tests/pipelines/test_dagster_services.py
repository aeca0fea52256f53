"""The running Dagster webserver and daemon of the test stack: code location loaded, schedule on, daemons alive."""

from __future__ import annotations

import httpx

from sems.settings import Settings
from sems.stack.dagster import daemon_healthy

QUERY = """{
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
    statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    assert {s["daemonType"] for s in statuses} >= {"SCHEDULER", "QUEUED_RUN_COORDINATOR"}
    assert all(s["healthy"] for s in statuses), statuses


def test_daemon_probe_agrees(settings: Settings) -> None:
    assert daemon_healthy(settings)
