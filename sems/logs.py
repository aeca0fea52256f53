"""Structured JSON logs with a `trace_id` on every line (M1).

`configure(service)` once per process; `trace_context(trace_id)` scopes a trace id to
the code that handles one message/request, and every log line inside carries it.
`throttle(prefix)` holds back repeats from a chatty library: kafka-python logs every
reconnect attempt at ERROR, ~2 lines a second for as long as Kafka is down.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_trace_id: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="-")


def new_trace_id() -> str:
    """32 random hex digits (a W3C trace id). Not uuid4: that reads os.urandom per call, which was
    a tenth of the bridge's CPU at one trace id per MQTT message; trace ids need no crypto strength."""
    return f"{random.getrandbits(128):032x}"


def current_trace_id() -> str:
    return _trace_id.get()


@contextmanager
def trace_context(trace_id: str | None = None) -> Iterator[str]:
    """Run the body with `trace_id` (a new one if None) attached to every log line."""
    token = _trace_id.set(trace_id or new_trace_id())
    try:
        yield _trace_id.get()
    finally:
        _trace_id.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or _trace_id.get(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Throttle(logging.Filter):
    """Lets through one record per `interval_s` for each (logger, level, message template) under `prefix`.

    The next record let through says how many like it were held back, so nothing is hidden
    without a trace: the first of a kind always shows, then at most one per interval.
    """

    def __init__(self, prefix: str, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefix = prefix
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._shown_at: dict[tuple[str, int, str], float] = {}
        self._held: Counter[tuple[str, int, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != self.prefix and not record.name.startswith(self.prefix + "."):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            shown_at = self._shown_at.get(kind)
            if shown_at is not None and now - shown_at < self.interval_s:
                self._held[kind] += 1
                return False
            self._shown_at[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this held back since the last one shown)"
            record.args = ()
        return True


def throttle(prefix: str, interval_s: float = 30.0) -> None:
    """Throttle records of the loggers under `prefix` on every handler `configure` installed."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(Throttle(prefix, interval_s))
