"""Fault injection on the stack's BMS simulator, cleared after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sems.settings import Settings

Inject = Callable[..., None]


@pytest.fixture
def inject_fault(settings: Settings) -> Iterator[Inject]:
    """`inject_fault("fac-001", "hang", seconds=5, count=1)`; every injected fault is cleared afterwards."""
    base = f"http://{settings.host}:{settings.bms_port}"
    touched: list[str] = []

    def inject(facility_id: str, mode: str, **options: Any) -> None:
        response = httpx.put(f"{base}/faults/{facility_id}", json={"mode": mode, **options}, timeout=5.0)
        response.raise_for_status()
        touched.append(facility_id)

    yield inject
    for facility_id in touched:
        httpx.delete(f"{base}/faults/{facility_id}", timeout=5.0)


def bms_state(settings: Settings, facility_id: str) -> dict[str, Any]:
    """Controls, load and apply counts per idempotency key, as the simulator reports them."""
    response = httpx.get(f"http://{settings.host}:{settings.bms_port}/state/{facility_id}", timeout=5.0)
    response.raise_for_status()
    return dict(response.json())
