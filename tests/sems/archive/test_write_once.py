"""Write-once is atomic: concurrent writers of one day each get their own version, locally and on the S3 server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest

from sems.archive.store import CLAIM, ArchiveStore, open_store
from sems.archive.verify import verify_store
from sems.archive.writer import archive_day
from sems.settings import Settings
from tests.sems.archive.support import free_day, readings_of_day, seed

T = TypeVar("T")


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> str:
    """An empty archive root on the local disk or in the stack's S3 server (moto, over HTTP)."""
    return str(tmp_path) if request.param == "local" else f"s3://{settings.s3_bucket}/once-{uuid.uuid4().hex[:8]}"


def _all_at_once(writers: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(i)` in `writers` threads released together by a barrier, so they race for real."""
    barrier = threading.Barrier(writers)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(writers) as pool:
        return list(pool.map(start, range(writers)))


def test_creating_an_existing_object_fails_and_keeps_the_first(settings: Settings, root: str) -> None:
    store = open_store(settings, root)
    path = f"{store.root}/day=2026-01-02/v0001/{CLAIM}"
    store.create(path, b"first")
    with pytest.raises(FileExistsError):
        store.create(path, b"second")
    with store.fs.open(path, "rb") as stored:
        assert stored.read() == b"first"


def test_concurrent_claims_of_one_day_each_get_a_distinct_version(settings: Settings, root: str) -> None:
    day = date(2026, 1, 3)
    stores = [open_store(settings, root) for _ in range(4)]  # one client per writer, as separate processes have
    versions = _all_at_once(4, lambda i: stores[i].claim_version(day, f"writer {i}"))

    assert sorted(versions) == [1, 2, 3, 4]
    for i, version in enumerate(versions):  # each claim file names the writer that won it
        with stores[0].fs.open(f"{stores[0].version_dir(day, version)}/{CLAIM}", "rb") as claim:
            assert claim.read() == f"writer {i}".encode()


def test_two_concurrent_archives_of_one_day_write_two_intact_versions(settings: Settings, root: str) -> None:
    day = free_day(settings)
    rows = seed(settings, readings_of_day(day, [f"once-{uuid.uuid4().hex[:6]}-m01"]), day)
    stores: list[ArchiveStore] = [open_store(settings, root) for _ in range(2)]
    manifests = _all_at_once(2, lambda i: archive_day(settings, stores[i], day))

    assert sorted(m.version for m in manifests) == [1, 2]
    assert [m.file("readings").rows for m in manifests] == [rows, rows]
    assert stores[0].archived_versions(day) == [1, 2]
    checks = verify_store(stores[0])
    assert [(c.version, c.ok) for c in checks] == [(1, True), (2, True)], [c.problems for c in checks]
