"""Archive assets: each day's readings, rollups and DR audit log as Parquet (S5, M5), checked and restore-drilled.

`readings_archive` is partitioned by day: it writes a new write-once version of the day,
reads every file back, then runs the Great Expectations checks over the stored Parquet
against the registered fleet (PostgreSQL facilities and meters), reports them as asset
checks (schema blocking, completeness a warning) and stores the day's summary for the UI
(`sems.archive.summary`). Two checks
watch the whole archive later: `archive_integrity` re-verifies every manifest and
`restore_drill` restores a random day into a scratch QuestDB table (monthly schedule).
"""


from collections.abc import Iterator
from datetime import date
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from assets.archive_quality import CHECKS, ArchiveValidator, CheckOutcome
from pipelines.resources import ArchiveResource, PostgresResource
from sems.archive.drill import restore_drill
from sems.archive.fleet import expected_readings, facility_kw_ranges
from sems.archive.manifest import Manifest
from sems.archive.store import ArchiveError
from sems.archive.summary import CheckSummary, day_summary, write_summary
from sems.archive.verify import verify_store
from sems.archive.writer import archive_day

daily = DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=0)
_WARN_ONLY = {"completeness"}


@asset(
    partitions_def=daily, group_name="archive", kinds={"parquet", "questdb", "s3"},
    check_specs=[AssetCheckSpec(name, asset="readings_archive", blocking=name == "schema") for name in CHECKS],
)
def readings_archive(
    context: AssetExecutionContext, archive: ArchiveResource, postgres: PostgresResource
) -> Iterator[Any]:
    """One day of raw readings, rollups and DR audit log as zstd Parquet with a checksummed manifest (write-once)."""
    settings, store = archive.settings(), archive.store()
    day = date.fromisoformat(context.partition_key)
    manifest = archive_day(settings, store, day)
    version_dir = store.version_dir(day, manifest.version)
    yield MaterializeResult(metadata=_manifest_metadata(version_dir, manifest))
    with postgres.transaction() as conn:  # the fleet as registered: silent meters count, at 0 %
        kw_ranges = facility_kw_ranges(conn, settings.archive_kw_headroom)
        expected = expected_readings(conn, day, settings.archive_reading_interval_s)
    validator = ArchiveValidator(settings.state / "gx")
    outcomes = validator.validate(
        f"{version_dir}/{manifest.file('readings').path}", store.fs, kw_ranges=kw_ranges, expected=expected,
        full_day=round(86400 / settings.archive_reading_interval_s),
        minimum=settings.archive_completeness_min, batch_rows=settings.archive_check_batch_rows,
    )
    checks = {name: _check_summary(name, outcome) for name, outcome in outcomes.items()}
    path = write_summary(store, day_summary(manifest, checks, data_docs=str(validator.data_docs_index)))
    context.log.info(f"quality summary for the UI: {path}")
    for name, outcome in outcomes.items():
        yield _check_result(name, outcome, str(validator.data_docs_index))


def _manifest_metadata(version_dir: str, manifest: Manifest) -> dict[str, Any]:
    return {
        "version": manifest.version,
        "location": MetadataValue.path(version_dir),
        "rows": MetadataValue.json({f.dataset: f.rows for f in manifest.files}),
        "bytes": sum(f.bytes for f in manifest.files),
        "sha256": MetadataValue.json({f.dataset: f.sha256 for f in manifest.files}),
        "software_version": manifest.software_version,
    }


def _severity(name: str) -> AssetCheckSeverity:
    return AssetCheckSeverity.WARN if name in _WARN_ONLY else AssetCheckSeverity.ERROR


def _check_summary(name: str, outcome: CheckOutcome) -> CheckSummary:
    return CheckSummary(passed=outcome.passed, severity=_severity(name).value, unexpected_rows=outcome.unexpected,
                        details=outcome.details)


def _check_result(name: str, outcome: CheckOutcome, data_docs: str) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key="readings_archive", check_name=name, passed=outcome.passed, severity=_severity(name),
        metadata={"unexpected_rows": outcome.unexpected, "details": MetadataValue.json(outcome.details),
                  "data_docs": MetadataValue.path(data_docs)},
    )


@asset_check(asset=readings_archive, description="Every archived file still matches its manifest (sha256, size, rows).")
def archive_integrity(context: AssetCheckExecutionContext, archive: ArchiveResource) -> AssetCheckResult:
    checks = verify_store(archive.store())
    failed = [c for c in checks if not c.ok]
    return AssetCheckResult(
        passed=not failed,
        metadata={
            "versions_checked": len(checks), "versions_failed": len(failed),
            "problems": MetadataValue.json([p for c in failed for p in c.problems][:20]),
        },
    )


@asset_check(
    asset=readings_archive, description="A random archived day restored into a scratch table matches its manifest.",
)
def restore_drill_check(context: AssetCheckExecutionContext, archive: ArchiveResource) -> AssetCheckResult:
    try:
        report = restore_drill(archive.settings(), archive.store())
    except ArchiveError as exc:  # a damaged or missing archive is a failed drill, reported, not a crashed run
        return AssetCheckResult(passed=False, metadata={"error": str(exc)})
    return AssetCheckResult(
        passed=report.ok,
        metadata={"day": str(report.day), "version": report.version, "rows_restored": report.rows,
                  "mismatches": MetadataValue.json(report.mismatches)},
    )
