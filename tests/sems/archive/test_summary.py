"""The per-day archive + quality summary the UI reads: checked, unchecked, stale and interrupted days."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from sems.archive.store import open_store
from sems.archive.summary import CheckSummary, day_summary, load_summaries, write_summary
from sems.archive.writer import archive_day
from sems.settings import Settings
from tests.sems.archive.support import free_day, readings_of_day, seed


def _check(passed: bool, severity: str) -> CheckSummary:
    return CheckSummary(passed=passed, severity=severity, unexpected_rows=0 if passed else 3, details=[])


def test_summaries_describe_every_archived_day_newest_first(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    rows = seed(settings, readings_of_day(day, [f"sum-{uuid.uuid4().hex[:6]}-m01"]), day)
    store = open_store(settings, str(tmp_path))
    manifest = archive_day(settings, store, day)
    store.claim_version(date(2001, 1, 1), "a run that died before its manifest")

    unchecked, interrupted = load_summaries(store)
    assert (unchecked["day"], unchecked["status"], unchecked["version"]) == (str(day), "unchecked", 1)
    assert unchecked["rows"]["readings"] == rows and unchecked["bytes"] == sum(f.bytes for f in manifest.files)
    assert (interrupted["day"], interrupted["status"], interrupted["version"]) == ("2001-01-01", "incomplete", None)
    assert [s["day"] for s in load_summaries(store, days=1)] == [str(day)]

    checks = {"schema": _check(True, "ERROR"), "completeness": _check(False, "WARN")}
    write_summary(store, day_summary(manifest, checks, data_docs="/gx/index.html"))
    [checked, _] = load_summaries(store)
    assert (checked["status"], checked["checks"], checked["data_docs"]) == ("warning", checks, "/gx/index.html")
    write_summary(store, day_summary(manifest, {**checks, "kw_range": _check(False, "ERROR")}))
    assert load_summaries(store)[0]["status"] == "failed"

    archive_day(settings, store, day)  # a newer version: the stored checks describe v1, not v2
    newest = load_summaries(store)[0]
    assert (newest["version"], newest["status"], newest["checks"]) == (2, "unchecked", {})
