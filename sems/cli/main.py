"""The `sems` command line: stack control now; other commands join as their features land."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated, TypeVar

import typer

from sems.settings import get_settings
from sems.stack import controller
from sems.stack.service import StackError, log_path

app = typer.Typer(help="SEMS: Smart Energy Management System.", no_args_is_help=True, pretty_exceptions_enable=False)
stack_app = typer.Typer(
    help="Run the local stack: Kafka, QuestDB, PostgreSQL, Redis, Mosquitto, MLflow, Dagster, apps.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")

T = TypeVar("T")
Services = Annotated[list[str] | None, typer.Argument(help="Services to act on (default: all).")]


def _one_line_errors(action: Callable[[], T]) -> T:
    """Run `action`; turn an operator-fixable problem into one line on stderr and exit 1."""
    try:
        return action()
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@stack_app.command("up")
def stack_up(
    services: Services = None,
    attach: Annotated[bool, typer.Option(help="Stay in the foreground; Ctrl-C stops the stack.")] = False,
) -> None:
    """Install what is missing, start every service, wait until all are healthy."""
    settings = get_settings()
    started = time.monotonic()
    try:
        _one_line_errors(lambda: controller.up(settings, services or [], report=_say))
    except KeyboardInterrupt:
        _stop_after_interrupt(services or [], "interrupted: stopping the stack")
        raise typer.Exit(130) from None
    typer.echo(f"stack up in {time.monotonic() - started:.1f}s")
    _print_status(services or [])
    if attach:
        _wait_for_interrupt()
        _stop_after_interrupt(services or [], "stopping the stack")


def _stop_after_interrupt(services: list[str], message: str) -> None:
    """Stop the stack even if the terminal (or a pipe such as `| tee`) went away with the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    _say(message)
    controller.down(get_settings(), services, report=_say)


def _say(line: str) -> None:
    """Progress output that never stops the work it reports on (a closed pipe is not an error here)."""
    try:
        typer.echo(line)
    except OSError:
        pass


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    typer.echo("running; press Ctrl-C to stop everything")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


@stack_app.command("down")
def stack_down(services: Services = None) -> None:
    """Stop services cleanly (all by default), in reverse start order."""
    _one_line_errors(lambda: controller.down(get_settings(), services or []))


@stack_app.command("status")
def stack_status(services: Services = None) -> None:
    """Print a table: service, pid, port, healthy, uptime, URL. Exit 1 if any is unhealthy."""
    rows = _print_status(services or [])
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def _print_status(services: list[str]) -> list[controller.ServiceStatus]:
    rows = _one_line_errors(lambda: controller.status(get_settings(), services))
    typer.echo(f"{'SERVICE':<18}{'PID':>8}{'PORT':>7}  {'HEALTHY':<8}{'UPTIME':>9}  URL")
    for r in rows:
        uptime = f"{r.uptime_s:.0f}s" if r.uptime_s is not None else "-"
        typer.echo(f"{r.name:<18}{r.pid or '-':>8}{r.port:>7}  {'yes' if r.healthy else 'no':<8}{uptime:>9}  {r.url}")
    return rows


@stack_app.command("logs")
def stack_logs(
    service: Annotated[str, typer.Argument(help="Service whose log to print.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many last lines.")] = 50,
) -> None:
    """Print the last lines of a service's log file."""
    settings = get_settings()
    _one_line_errors(lambda: controller.status(settings, [service]))
    path = log_path(settings, service)
    if not path.exists():
        typer.echo(f"error: no log yet for {service} ({path})", err=True)
        raise typer.Exit(1)
    with open(path, encoding="utf-8", errors="replace") as log:
        sys.stdout.writelines(log.readlines()[-lines:])


@stack_app.command("kill")
def stack_kill(service: Annotated[str, typer.Argument(help="Service to SIGKILL.")]) -> None:
    """SIGKILL one service (for fault drills); `sems stack up` starts it again."""
    killed = _one_line_errors(lambda: controller.kill(get_settings(), service))
    typer.echo(f"killed {service}" if killed else f"{service} was not running")


bench_app = typer.Typer(help="Benchmarks that print figures (never timed tests).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _add_layer_commands(argv: list[str]) -> None:
    """Attach commands that live above the kernel, declared as entry points so `sems` never imports them.

    `sems.cli` entries are Typer apps (`sems NAME ...`); `sems.bench` entries are command
    functions (`sems bench NAME ...`). Only the layer a command line names is imported (each
    pulls in heavy libraries: Dagster, XGBoost, Great Expectations, Beam): `sems archive verify`
    loads the archive layer alone, which took CLI start-up from tens of seconds to a few under
    load. Help and anything unrecognised load every layer, so all commands stay listed.
    """
    words = [a for a in argv[1:] if not a.startswith("-")]
    layers, benches = entry_points(group="sems.cli"), entry_points(group="sems.bench")
    named = {e.name for e in layers} | {"bench"}
    wanted = words[0] if words and words[0] in named else None
    for entry in layers:
        if wanted is None or wanted == entry.name:
            app.add_typer(entry.load(), name=entry.name)
    bench = words[1] if wanted == "bench" and len(words) > 1 else None
    for entry in benches:
        if wanted in (None, "bench") and bench in (None, entry.name):
            bench_app.command(entry.name)(entry.load())


_add_layer_commands(sys.argv)

if __name__ == "__main__":
    app()
