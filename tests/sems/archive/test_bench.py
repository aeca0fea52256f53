"""`sems bench archive` leaves nothing behind and never drops a day that holds other readings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sems.archive import bench
from sems.archive.store import ArchiveError, open_store
from sems.settings import Settings
from sems.stores.questdb import query
from tests.sems.archive.support import free_day, readings_of_day, rows_on, seed


def test_a_bench_run_restores_its_day_and_drops_it_again(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    store = open_store(settings, str(tmp_path))
    figures = bench.run(settings, store, day, meters=3)

    assert figures["loaded"] == figures["rows"] == 3 * 5760 and figures["restore_ok"] == 1.0
    assert rows_on(settings, day) == 0  # the seeded partition is dropped (the bench waits for the WAL apply)
    assert not store.fs.exists(store.day_dir(day))
    assert not query(settings, "SELECT table_name FROM tables() WHERE table_name LIKE 'bench_restore_%'")


def test_a_day_with_other_readings_is_refused_and_kept(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    rows = seed(settings, readings_of_day(day, [f"keep-{uuid.uuid4().hex[:6]}-m01"]), day)
    with pytest.raises(ArchiveError, match="not the bench's: choose a free day"):
        bench.run(settings, open_store(settings, str(tmp_path)), day, meters=3)
    assert rows_on(settings, day) == rows
