"""Child process control with real processes: start detached, find, stop, kill the whole group."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from sems.stack import process
from tests.support import wait_until

# A parent that ignores SIGTERM and has a child: stop must escalate and reach the group.
STUBBORN = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); print('up', flush=True); time.sleep(600)"


def _start(tmp_path: Path, code: str) -> process.ProcessRecord:
    return process.start(
        "svc", [sys.executable, "-c", code], run_dir=tmp_path / "run", log_path=tmp_path / "svc.log",
        env=dict(os.environ), cwd=tmp_path,
    )


def test_start_writes_a_record_and_a_log(tmp_path: Path) -> None:
    record = _start(tmp_path, "print('hello', flush=True); import time; time.sleep(600)")
    try:
        found = process.read_record(tmp_path / "run", "svc")
        assert found is not None and found.pid == record.pid and found.alive()
        wait_until(lambda: "hello" in (tmp_path / "svc.log").read_text(), what="log line")
    finally:
        process.stop(tmp_path / "run", "svc", timeout_s=5)
    assert not record.alive()
    assert process.read_record(tmp_path / "run", "svc") is None


def test_stop_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    record = _start(tmp_path, STUBBORN)
    wait_until(lambda: "up" in (tmp_path / "svc.log").read_text(), what="stubborn process up")
    pgid = os.getpgid(record.pid)
    assert process.stop(tmp_path / "run", "svc", timeout_s=0.5) is True
    assert not record.alive()
    members = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pgid and process.pid_alive(int(p))]
    assert members == []


def test_kill_and_stop_of_nothing_report_false(tmp_path: Path) -> None:
    assert process.stop(tmp_path / "run", "absent", timeout_s=1) is False
    assert process.kill(tmp_path / "run", "absent") is False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_a_batch_service_and_what_it_starts_run_at_lower_priority(tmp_path: Path) -> None:
    child = "import os, subprocess, sys, time; " \
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); " \
        "print('child', c.pid, flush=True); time.sleep(600)"
    record = process.start("svc", [sys.executable, "-c", child], run_dir=tmp_path / "run",
                           log_path=tmp_path / "svc.log", env=dict(os.environ), cwd=tmp_path, nice=10)
    try:
        wait_until(lambda: "child" in (tmp_path / "svc.log").read_text(), what="child started")
        child_pid = int((tmp_path / "svc.log").read_text().split()[1])
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, record.pid) == min(ours + 10, 19)
        assert os.getpriority(os.PRIO_PROCESS, child_pid) == min(ours + 10, 19)
    finally:
        process.stop(tmp_path / "run", "svc", timeout_s=5)


def test_a_service_started_by_a_process_that_ignores_sigterm_still_stops_on_it(tmp_path: Path) -> None:
    # Ignored signals survive exec: a JVM started that way never stopped on SIGTERM (CI teardowns hit the SIGKILL).
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        record = _start(tmp_path, "print('up', flush=True); import time; time.sleep(600)")
    finally:
        signal.signal(signal.SIGTERM, before)
    wait_until(lambda: "up" in (tmp_path / "svc.log").read_text(), what="process up")
    ignored = int(next(line for line in Path(f"/proc/{record.pid}/status").read_text().splitlines()
                       if line.startswith("SigIgn:")).split()[1], 16)
    assert not ignored & (1 << (signal.SIGTERM - 1)), "the child inherited SIGTERM ignored"
    os.kill(record.pid, signal.SIGTERM)
    wait_until(lambda: not record.alive(), timeout_s=5, what="the child gone on SIGTERM")
    process.stop(tmp_path / "run", "svc", timeout_s=1)
