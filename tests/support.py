"""Helpers for tests: wait for a condition instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, timeout_s: float = 30.0, interval_s: float = 0.2, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; return it, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")
        time.sleep(interval_s)
        last = probe()
    return last
