"""Child processes of the local stack: start detached, record pid and start time, stop cleanly.

Every service runs in its own session (process group) so a stop reaches the whole tree
(a JVM, a uvicorn worker, the Beam job's runner), and its output goes to one log file
under `<state>/logs/`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """What `start` wrote about a running child: enough to find, report and stop it."""

    pid: int
    started_at: float
    command: list[str]

    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def record_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def read_record(run_dir: Path, name: str) -> ProcessRecord | None:
    """The record of service `name`, or None if it was never started or is gone."""
    path = record_path(run_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ProcessRecord(pid=int(data["pid"]), started_at=float(data["started_at"]), command=list(data["command"]))


def start(
    name: str,
    command: Sequence[str],
    *,
    run_dir: Path,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    nice: int = 0,
) -> ProcessRecord:
    """Start `command` detached in its own session, appending its output to `log_path`.

    `nice` > 0 lowers its CPU priority, and that of every process it starts.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - commands are built by the project, not from input
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=lambda: _in_child(nice),  # noqa: PLW1509 - os.nice and signal dispositions only
        )
    record = ProcessRecord(pid=proc.pid, started_at=time.time(), command=list(command))
    record_path(run_dir, name).write_text(
        json.dumps({"pid": record.pid, "started_at": record.started_at, "command": record.command}),
        encoding="utf-8",
    )
    return record


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _in_child(nice: int) -> None:
    """In the child before exec: its priority, and the signals it is stopped with at their defaults.

    An ignored signal stays ignored across exec, and a JVM then installs no handler for it: a
    Kafka or QuestDB started by a process that ignored SIGTERM (a CI job's shell, a test runner)
    shrugged off `stop` until the SIGKILL 30 s later. Lowered priority: nothing it runs ever had
    the default one.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    if nice:
        os.nice(nice)


def stop(run_dir: Path, name: str, *, timeout_s: float, sig: int = signal.SIGTERM) -> bool:
    """Signal the process group of `name`, wait up to `timeout_s`, then SIGKILL it.

    Returns True if something was running.
    """
    record = read_record(run_dir, name)
    if record is None:
        return False
    was_alive = record.alive()
    if was_alive:
        _signal_group(record.pid, sig)
        _wait_gone(record.pid, timeout_s)
        if record.alive():
            _signal_group(record.pid, signal.SIGKILL)
            _wait_gone(record.pid, 5.0)
    record_path(run_dir, name).unlink(missing_ok=True)
    return was_alive


def kill(run_dir: Path, name: str) -> bool:
    """SIGKILL the whole process group of `name` at once (fault tests)."""
    record = read_record(run_dir, name)
    if record is None or not record.alive():
        return False
    _signal_group(record.pid, signal.SIGKILL)
    _wait_gone(record.pid, 5.0)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> None:
    """Wait until `pid` is gone, reaping it if it is our own child.

    A dead child of this process stays a zombie until reaped, and a zombie still holds its
    pid: PostgreSQL, for one, refuses to start while the pid in its lock file exists.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return
        time.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init (or whoever started it) reaps it
