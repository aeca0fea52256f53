"""Where a run's time goes: milliseconds per step as Beam counters `ms_<step>`, logged by the driver per run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from apache_beam.metrics import Metrics

NAMESPACE = "sems.beam"


@contextmanager
def timed(step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        Metrics.counter(NAMESPACE, f"ms_{step}").inc(round((time.perf_counter() - started) * 1000))
