"""The QuestDB disk watchdog on the real QuestDB: a full disk halves the raw TTL to a floor, a freed one restores it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from sems.settings import Settings
from sems.stack.service import data_dir
from sems.stores import questdb
from streaming.beam_job.disk_watchdog import DiskWatchdog, ttl_days, used_ratio_of
from tests.support import wait_until


@pytest.fixture
def raw_table(settings: Settings) -> Iterator[str]:
    """A scratch raw table shaped like `readings` (the running job's own watchdog keeps watching the real one)."""
    name = f"watchdog_{uuid.uuid4().hex[:8]}"
    questdb.query(
        settings,
        f"CREATE TABLE {name} (ts TIMESTAMP, meter_id SYMBOL, kw DOUBLE) TIMESTAMP(ts) PARTITION BY DAY "
        f"TTL {settings.questdb_readings_ttl_days} DAYS WAL",
    )
    yield name
    questdb.query(settings, f"DROP TABLE {name}")


def _wait_for_ttl(settings: Settings, table: str, days: int) -> None:
    wait_until(lambda: ttl_days(settings, table) == days, timeout_s=60, what=f"QuestDB's TTL of {table} at {days} days")


def test_a_full_disk_shortens_raw_retention_step_by_step_and_a_freed_disk_restores_it(
    settings: Settings, raw_table: str
) -> None:
    usage = {"ratio": 0.5}
    watchdog = DiskWatchdog(settings, used_ratio=lambda: usage["ratio"], table=raw_table)
    assert watchdog.check() == settings.questdb_readings_ttl_days  # below the alert ratio: nothing changes

    usage["ratio"] = settings.questdb_disk_alert_ratio + 0.01
    steps: list[int] = []
    while (ttl := watchdog.check()) not in steps:
        steps.append(ttl)
        # QuestDB itself holds the shortened TTL once its WAL has applied the ALTER (asynchronously).
        _wait_for_ttl(settings, raw_table, ttl)
    assert steps[0] == settings.questdb_readings_ttl_days // 2
    assert steps == sorted(steps, reverse=True) and steps[-1] == settings.questdb_readings_min_ttl_days
    assert REGISTRY.get_sample_value("sems_questdb_disk_alert") == 1

    usage["ratio"] = (settings.questdb_disk_alert_ratio + settings.questdb_disk_clear_ratio) / 2
    assert watchdog.check() == settings.questdb_readings_min_ttl_days  # hysteresis: between the ratios, hold
    usage["ratio"] = settings.questdb_disk_clear_ratio - 0.01
    assert watchdog.check() == settings.questdb_readings_ttl_days
    _wait_for_ttl(settings, raw_table, settings.questdb_readings_ttl_days)
    assert REGISTRY.get_sample_value("sems_questdb_disk_alert") == 0


def test_the_measured_ratio_is_the_real_filesystem_of_questdb_data(settings: Settings) -> None:
    ratio = used_ratio_of(data_dir(settings, "questdb"))
    assert 0 < ratio < 1
