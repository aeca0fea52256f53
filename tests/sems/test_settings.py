"""The settings object: environment overrides and the port offset of side-by-side stacks."""

from __future__ import annotations

import pytest

from sems.settings import Settings


def test_port_offset_shifts_every_port_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMS_PORT_OFFSET", "1000")
    monkeypatch.delenv("SEMS_KAFKA_PORT", raising=False)
    shifted = Settings()
    base = Settings(port_offset=0, kafka_port=9092, questdb_http_port=9000)
    assert shifted.kafka_port == 10092
    assert shifted.questdb_http_port == 10000
    assert base.kafka_port == 9092
    # Re-validating the shifted object must not shift again.
    assert Settings.model_validate(shifted.model_dump()).kafka_port == 10092


def test_ports_of_one_stack_are_distinct() -> None:
    settings = Settings(port_offset=0)
    ports = [getattr(settings, name) for name in Settings.model_fields if name.endswith("_port")]
    assert len(ports) == len(set(ports))


def test_derived_urls_follow_the_ports() -> None:
    settings = Settings(port_offset=0, host="127.0.0.1", postgres_port=6000, kafka_port=7000)
    assert settings.kafka_bootstrap == "127.0.0.1:7000"
    assert "@127.0.0.1:6000/" in settings.postgres_url
