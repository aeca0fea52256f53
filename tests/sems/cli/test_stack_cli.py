"""`sems stack ...` as an operator runs it: health of the running test stack and one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sems.settings import Settings
from sems.stack import controller


def _sems(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sems.cli", *args], capture_output=True, text=True, timeout=120,
        env=env or dict(os.environ), check=False,
    )


def test_every_service_of_the_test_stack_is_healthy(settings: Settings) -> None:
    rows = controller.status(settings)
    unhealthy = [r.name for r in rows if not r.healthy]
    assert unhealthy == []
    assert {"kafka", "questdb", "postgres", "redis", "mosquitto", "bridge", "beam-job", "api"} <= {r.name for r in rows}


def test_status_prints_a_table_and_exits_zero(settings: Settings) -> None:
    done = _sems("stack", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    header, *lines = done.stdout.strip().splitlines()
    assert header.split()[:5] == ["SERVICE", "PID", "PORT", "HEALTHY", "UPTIME"]
    assert any(line.startswith("questdb") and " yes " in line for line in lines)


def test_unknown_service_is_a_one_line_error() -> None:
    done = _sems("stack", "up", "no-such-service")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("error: unknown service no-such-service")


def test_taken_port_is_a_one_line_error_that_says_what_to_do(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((settings.host, 0))  # the stack's host: on another one the port would be free
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**os.environ, "SEMS_STATE_DIR": str(tmp_path / "state"), "SEMS_REDIS_PORT": str(port)}
        env.pop("SEMS_PORT_OFFSET", None)
        try:
            done = _sems("stack", "up", "redis", env=env)
        finally:
            _sems("stack", "down", "redis", env=env)  # had it started anyway, it must not outlive the test
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"error: port {port} needed by redis is taken by another process: "
        "stop it, or set SEMS_PORT_OFFSET (or the service's SEMS_*_PORT) and retry"
    )
