"""Bring the local stack up, down, and report on it: the engine behind `sems stack ...`."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sems.settings import Settings
from sems.stack import process
from sems.stack.health import port_free
from sems.stack.registry import select
from sems.stack.service import Service, StackError, log_path, run_dir

Report = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    healthy: bool
    uptime_s: float | None
    url: str


def child_env(settings: Settings, service: Service) -> dict[str, str]:
    """The environment of a child: ours (so SEMS_* settings reach it) plus the service's own."""
    env = dict(os.environ)
    env["SEMS_STATE_DIR"] = str(settings.state)
    env["PYTHONUNBUFFERED"] = "1"
    # Children get the already-offset ports, so they must not shift them again.
    env.pop("SEMS_PORT_OFFSET", None)
    for name in type(settings).model_fields:
        if name.endswith("_port"):
            env[f"SEMS_{name.upper()}"] = str(getattr(settings, name))
    env.update(service.env(settings))
    return env


def up(settings: Settings, names: Sequence[str] = (), report: Report = print) -> None:
    """Install what is missing and start every selected service that is not running; wait for health."""
    services = select(names)
    for service in services:
        if service.install:
            service.install(settings)
    for service in services:
        _up_one(settings, service, report)


def _up_one(settings: Settings, service: Service, report: Report) -> None:
    record = process.read_record(run_dir(settings), service.name)
    if record is None or not record.alive():
        _check_ports(settings, service)
        if service.prepare:
            service.prepare(settings)
        report(f"starting {service.name}")
        record = process.start(
            service.name,
            service.command(settings),
            run_dir=run_dir(settings),
            log_path=log_path(settings, service.name),
            env=child_env(settings, service),
            cwd=Path.cwd(),
            nice=service.nice,
        )
    _wait_healthy(settings, service, record)
    if service.after_start:
        service.after_start(settings)
    report(f"{service.name} healthy")


def _check_ports(settings: Settings, service: Service) -> None:
    for port in service.ports(settings):
        if not port_free(settings.host, port):
            raise StackError(
                f"port {port} needed by {service.name} is taken by another process: "
                f"stop it, or set SEMS_PORT_OFFSET (or the service's SEMS_*_PORT) and retry"
            )


def _wait_healthy(settings: Settings, service: Service, record: process.ProcessRecord) -> None:
    timeout = service.start_timeout_s or settings.stack_start_timeout_s
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.healthy(settings):
            return
        if not record.alive():
            last = _last_log_line(settings, service)
            raise StackError(f"{service.name} exited during start: {last} (log: {log_path(settings, service.name)})")
        time.sleep(0.25)
    raise StackError(f"{service.name} not healthy after {timeout:.0f}s: see {log_path(settings, service.name)}")


def _last_log_line(settings: Settings, service: Service) -> str:
    try:
        lines = log_path(settings, service.name).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "empty log"


def down(settings: Settings, names: Sequence[str] = (), report: Report = print) -> None:
    """Stop the selected services (all by default) in reverse start order."""
    for service in reversed(select(names)):
        timeout = service.stop_timeout_s or settings.stack_stop_timeout_s
        if process.stop(run_dir(settings), service.name, timeout_s=timeout, sig=service.stop_signal):
            report(f"stopped {service.name}")


def kill(settings: Settings, name: str) -> bool:
    """SIGKILL one service (fault tests); returns True if it was running."""
    select([name])
    return process.kill(run_dir(settings), name)


def status(settings: Settings, names: Sequence[str] = ()) -> list[ServiceStatus]:
    rows = []
    for service in select(names):
        record = process.read_record(run_dir(settings), service.name)
        alive = record is not None and record.alive()
        rows.append(
            ServiceStatus(
                name=service.name,
                pid=record.pid if record and alive else None,
                port=service.port(settings),
                healthy=alive and service.healthy(settings),
                uptime_s=time.time() - record.started_at if record and alive else None,
                url=service.url(settings),
            )
        )
    return rows


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module args` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", module, *args]
