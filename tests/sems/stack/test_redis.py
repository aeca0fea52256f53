"""The stack's Redis: answers, persists with an append-only file, and keeps data across a restart."""

from __future__ import annotations

import uuid

from sems.settings import Settings
from sems.stack import controller
from sems.stack.redis import SERVICE, client
from sems.stack.service import data_dir


def test_ping(settings: Settings) -> None:
    assert SERVICE.healthy(settings)
    with client(settings) as conn:
        assert conn.ping() is True


def test_configured_from_our_config(settings: Settings) -> None:
    with client(settings) as conn:
        assert conn.config_get("appendonly") == {"appendonly": "yes"}
        assert conn.config_get("dir") == {"dir": str(data_dir(settings, "redis"))}
        assert conn.config_get("bind") == {"bind": settings.host}
        assert conn.config_get("protected-mode") == {"protected-mode": "yes"}


def test_value_survives_a_restart(settings: Settings) -> None:
    key, value = f"test:survives:{uuid.uuid4().hex}", uuid.uuid4().hex
    with client(settings) as conn:
        conn.set(key, value)
    controller.down(settings, ["redis"], report=lambda _: None)
    assert not SERVICE.healthy(settings)
    controller.up(settings, ["redis"], report=lambda _: None)
    with client(settings) as conn:
        assert conn.get(key) == value.encode()
        conn.delete(key)
