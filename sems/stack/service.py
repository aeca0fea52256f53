"""What a service of the local stack is: how to install, prepare, start, check and describe it.

Each component module (`sems/stack/kafka.py`, `questdb.py`, ...) builds one `Service`;
`sems/stack/registry.py` lists them in start order. Nothing here knows a component.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sems.settings import Settings


class StackError(Exception):
    """A problem the operator can fix; its message is one line that says what to do."""


BATCH_NICE = 10  # the `nice` of batch services (see Service.nice)


@dataclass(frozen=True)
class Service:
    """One child process of the stack.

    - `install` makes sure binaries/jars exist (cached; quick when already there).
    - `prepare` creates data dirs and config files before each start (idempotent).
    - `command` is the argv of the long-running process.
    - `healthy` answers quickly whether the running service works.
    - `after_start` runs once the service is healthy (topics, schema, migrations).
    Ports are named by their settings field (`kafka_port`), so `SEMS_PORT_OFFSET` applies.
    """

    name: str
    port_setting: str
    command: Callable[[Settings], Sequence[str]]
    healthy: Callable[[Settings], bool]
    url: Callable[[Settings], str] = lambda s: ""
    install: Callable[[Settings], None] | None = None
    prepare: Callable[[Settings], None] | None = None
    after_start: Callable[[Settings], None] | None = None
    env: Callable[[Settings], Mapping[str, str]] = lambda s: {}
    extra_port_settings: tuple[str, ...] = ()
    start_timeout_s: float | None = None
    stop_timeout_s: float | None = None
    # What a clean stop sends to the process group: PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for clients).
    stop_signal: int = signal.SIGTERM
    # False for a process that listens on no port of its own (the Dagster daemon): its
    # `port_setting` is only shown in `status`, and `up` does not demand that port be free.
    binds_port: bool = True
    # Batch work (the forecasting code server and the runs it launches, Dagster's UI, MLflow) runs at a
    # lower CPU priority than the hot path (bridge, Beam job, API) and demand response, so on two cores
    # a burst of batch runs never stretches an API answer, a reading's way to QuestDB or a DR dispatch.
    nice: int = 0

    def port(self, settings: Settings) -> int:
        """The main port (the one `status` shows), read from the settings field `port_setting`."""
        return int(getattr(settings, self.port_setting))

    def ports(self, settings: Settings) -> list[int]:
        """Every port the service binds; all must be free before it starts."""
        main = [self.port(settings)] if self.binds_port else []
        return [*main, *(int(getattr(settings, f)) for f in self.extra_port_settings)]

    def http_url(self, settings: Settings, path: str = "") -> str:
        return f"http://{settings.host}:{self.port(settings)}{path}"


def data_dir(settings: Settings, name: str) -> Path:
    """The private data directory of service `name` under the state dir."""
    path = settings.state / "data" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir(settings: Settings, name: str) -> Path:
    """Where generated config files of service `name` live."""
    path = settings.state / "conf" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path(settings: Settings, name: str) -> Path:
    return settings.state / "logs" / f"{name}.log"


def run_dir(settings: Settings) -> Path:
    return settings.state / "run"
