"""A compact archive + data-quality summary per day, written beside the archive, read by the UI.

`<archive root>/quality/day=YYYY-MM-DD.json` holds, for the newest archived version of a
day, what the manifest says (rows per dataset, bytes) and how each Great Expectations
check went. It is a report about the archive, not part of it: rewritten whenever the day
is checked again, outside the write-once `day=` directories (which `verify` walks).

`load_summaries` is the one reader (the Streamlit data page): newest day first, and a day
archived without checks (by the CLI, say) still appears, as `unchecked`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Literal, TypedDict

from sems.archive.manifest import Manifest
from sems.archive.store import ArchiveError, ArchiveStore
from sems.archive.verify import latest_manifest

Status = Literal["passed", "warning", "failed", "unchecked", "incomplete"]


class CheckSummary(TypedDict):
    """One asset check of the day: `severity` is ERROR (blocks trust in the day) or WARN."""

    passed: bool
    severity: str
    unexpected_rows: int
    details: list[str]


class DaySummary(TypedDict):
    """One archived day as the UI shows it."""

    day: str  # YYYY-MM-DD
    status: Status  # failed: an ERROR check failed; warning: only WARN checks failed
    version: int | None  # newest archived version (None: no finished version)
    archived_at: str | None  # ISO 8601 UTC
    checked_at: str | None
    rows: dict[str, int]  # per dataset: readings, meter_load_1m, ..., dr_audit_log
    bytes: int
    checks: dict[str, CheckSummary]  # schema, non_null_keys, kw_range, unique_ts_meter, kwh_monotonic, completeness
    data_docs: str | None  # the GX data docs index (a path on the Dagster host)


def quality_path(store: ArchiveStore, day: date) -> str:
    return f"{store.root}/quality/day={day.isoformat()}.json"


def day_summary(manifest: Manifest, checks: dict[str, CheckSummary], data_docs: str | None = None) -> DaySummary:
    """The summary of one checked version of a day."""
    failed = [c for c in checks.values() if not c["passed"]]
    status: Status = (
        "failed" if any(c["severity"] == "ERROR" for c in failed) else "warning" if failed else "passed"
    )
    return DaySummary(
        day=manifest.day, status=status, version=manifest.version, archived_at=manifest.created_at,
        checked_at=datetime.now(UTC).isoformat(), rows={f.dataset: f.rows for f in manifest.files},
        bytes=sum(f.bytes for f in manifest.files), checks=checks, data_docs=data_docs,
    )


def write_summary(store: ArchiveStore, summary: DaySummary) -> str:
    """Store (or replace) the day's summary; returns its path."""
    path = quality_path(store, date.fromisoformat(summary["day"]))
    with store.fs.open(path, "wb") as target:
        target.write(json.dumps(summary, indent=2, sort_keys=True).encode())
    return path


def load_summaries(store: ArchiveStore, days: int = 31) -> list[DaySummary]:
    """The newest `days` archived days, newest first: checked ones as checked, others `unchecked`/`incomplete`."""
    return [_load_day(store, day) for day in reversed(store.days()[-days:])] if days > 0 else []


def _load_day(store: ArchiveStore, day: date) -> DaySummary:
    try:
        with store.fs.open(quality_path(store, day), "rb") as stored:
            summary: DaySummary = json.loads(stored.read())
        if summary["version"] == max(store.archived_versions(day), default=None):
            return summary
    except FileNotFoundError:
        pass  # archived, never checked: describe it from its manifest
    try:
        manifest = latest_manifest(store, day)
    except ArchiveError:
        return DaySummary(day=day.isoformat(), status="incomplete", version=None, archived_at=None, checked_at=None,
                          rows={}, bytes=0, checks={}, data_docs=None)
    return {**day_summary(manifest, {}), "status": "unchecked", "checked_at": None}
