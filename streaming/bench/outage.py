"""A Kafka outage in the middle of a benchmark (C4 at full rate): stop the broker, wait, start it again.

The bench keeps publishing meanwhile, so the bridge's breaker opens and its disk spool takes
the load; `SpoolWatch` samples the spool's size from the bridge's own metrics to report its peak.
"""

from __future__ import annotations

import threading

import httpx

from sems.settings import Settings
from sems.stack import controller


class KafkaOutage(threading.Thread):
    """Stops Kafka `start_after_s` into the run for `seconds`, then starts it again (the stack's own commands)."""

    def __init__(self, settings: Settings, start_after_s: float, seconds: float) -> None:
        super().__init__(name="kafka-outage", daemon=True)
        self.settings, self.start_after_s, self.seconds = settings, start_after_s, seconds
        self.abort = threading.Event()

    def run(self) -> None:
        if self.abort.wait(self.start_after_s):
            return
        controller.down(self.settings, ["kafka"], report=lambda _: None)
        try:
            self.abort.wait(self.seconds)
        finally:
            controller.up(self.settings, ["kafka"], report=lambda _: None)


class SpoolWatch(threading.Thread):
    """Peak of `sems_bridge_spool_bytes`, sampled every 0.5 s from the bridge's /metrics."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="spool-watch", daemon=True)
        self.url = f"http://{settings.host}:{settings.bridge_port}/metrics"
        self.peak_bytes = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                text = httpx.get(self.url, timeout=2).text
            except httpx.HTTPError:
                continue
            for line in text.splitlines():
                if line.startswith("sems_bridge_spool_bytes "):
                    self.peak_bytes = max(self.peak_bytes, float(line.split()[1]))
