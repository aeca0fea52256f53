"""`readings_archive` materialised with real resources: GX asset checks, quality summary, integrity and drill checks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
from dagster import AssetCheckSeverity, Definitions, materialize

from assets.archive import archive_integrity, readings_archive, restore_drill_check
from pipelines.resources import ArchiveResource, resources
from pipelines.schedules import restore_drill_job
from sems.archive.store import open_store
from sems.archive.summary import load_summaries
from sems.settings import Settings
from tests.sems.archive.support import contract_kw, free_day, readings_of_day, registered_meters, seed


def _resources(settings: Settings, root: Path) -> dict:
    return {**resources(settings), "archive": ArchiveResource(root=str(root))}


def _checks(result) -> dict:  # type: ignore[no-untyped-def]
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_good_day_passes_every_check_and_a_drill_restores_it(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    seed(settings, readings_of_day(day, [f"good-{uuid.uuid4().hex[:6]}-m01"]), day)
    result = materialize([readings_archive], resources=_resources(settings, tmp_path), partition_key=str(day))

    assert result.success
    metadata = result.asset_materializations_for_node("readings_archive")[0].metadata
    assert metadata["version"].value == 1
    checks = _checks(result)
    assert set(checks) == {"schema", "non_null_keys", "kw_range", "unique_ts_meter", "kwh_monotonic", "completeness"}
    assert all(c.passed for c in checks.values()), {n: c.metadata for n, c in checks.items()}
    [summary] = load_summaries(open_store(settings, str(tmp_path)))
    assert (summary["day"], summary["version"], summary["status"]) == (str(day), 1, "passed")
    assert summary["rows"]["readings"] == 5760 and set(summary["checks"]) == set(checks)
    docs = Path(str(summary["data_docs"]))
    assert docs.exists() and "readings_archive" in docs.read_text()  # GX data docs built, listing the suite
    assert checks["schema"].metadata["data_docs"].value == str(docs)

    defs = Definitions(assets=[readings_archive], asset_checks=[archive_integrity, restore_drill_check],
                       jobs=[restore_drill_job], resources=_resources(settings, tmp_path))
    drill = defs.resolve_job_def("archive_restore_drill_job").execute_in_process()
    evaluations = {e.check_name: e for e in drill.get_asset_check_evaluations()}
    assert evaluations["restore_drill_check"].passed and evaluations["archive_integrity"].passed
    assert evaluations["restore_drill_check"].metadata["day"].value == str(day)

    archived = tmp_path / f"day={day}" / "v0001" / "readings.parquet"
    archived.write_bytes(archived.read_bytes()[:-100])  # truncated after the fact
    drill = defs.resolve_job_def("archive_restore_drill_job").execute_in_process(raise_on_error=False)
    evaluations = {e.check_name: e for e in drill.get_asset_check_evaluations()}
    assert not evaluations["archive_integrity"].passed
    assert "readings.parquet" in json.dumps(evaluations["archive_integrity"].metadata["problems"].value)
    assert not evaluations["restore_drill_check"].passed
    assert "fails verification" in str(evaluations["restore_drill_check"].metadata["error"].value)


def test_bad_readings_fail_their_checks_and_legal_export_passes(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    meter = f"bad-{uuid.uuid4().hex[:6]}-m01"
    limit = contract_kw(settings, "fac-001") * settings.archive_kw_headroom
    good = readings_of_day(day, [meter])
    row = pl.int_range(0, good.height)
    bad = good.with_columns(
        kw=pl.when(row == 50).then(-0.5 * limit)  # on-site generation exporting: legal (MQTT contract allows kW < 0)
        .when(row == 100).then(-2 * limit).when(row == 200).then(2 * limit).otherwise(pl.col("kw")),
        kwh=pl.when(row == 300).then(0.0).otherwise(pl.col("kwh")),
    )
    seed(settings, bad, day)
    result = materialize([readings_archive], resources=_resources(settings, tmp_path), partition_key=str(day),
                         raise_on_error=False)

    checks = _checks(result)
    assert checks["schema"].passed and checks["unique_ts_meter"].passed and checks["non_null_keys"].passed
    assert not checks["kw_range"].passed and checks["kw_range"].metadata["unexpected_rows"].value == 2
    assert checks["kw_range"].severity == AssetCheckSeverity.ERROR
    assert not checks["kwh_monotonic"].passed and checks["kwh_monotonic"].metadata["unexpected_rows"].value == 1
    assert checks["completeness"].passed
    [summary] = load_summaries(open_store(settings, str(tmp_path)))
    assert summary["status"] == "failed" and not summary["checks"]["kw_range"]["passed"]


def test_a_silent_meter_counts_as_zero_and_only_warns(settings: Settings, tmp_path: Path) -> None:
    day = free_day(settings)
    start = datetime.combine(day, time(), tzinfo=UTC)
    tag = uuid.uuid4().hex[:6]
    full, silent, sparse, late = (f"cmp-{tag}-{name}" for name in ("full", "silent", "sparse", "late"))
    since = {full: start - timedelta(days=3), silent: start - timedelta(days=3), sparse: start - timedelta(days=3),
             late: start + timedelta(hours=12)}  # `late` registered at noon: owes half a day
    frames = readings_of_day(day, [full, sparse, late])
    frames = frames.filter((pl.col("meter_id") != sparse) | (pl.col("ts").dt.minute() % 2 == 0))  # ~half the day
    frames = frames.filter((pl.col("meter_id") != late) | (pl.col("ts") >= start + timedelta(hours=12)))
    with registered_meters(settings, "fac-001", since):
        seed(settings, frames, day)
        result = materialize([readings_archive], resources=_resources(settings, tmp_path), partition_key=str(day),
                             raise_on_error=False)

    completeness = _checks(result)["completeness"]
    assert not completeness.passed and completeness.severity == AssetCheckSeverity.WARN
    assert completeness.metadata["unexpected_rows"].value == 2  # silent and sparse; full and late are complete
    details = completeness.metadata["details"].value
    assert details[0] == f"fac-001/{silent}: 0 of 5760 readings (0.0%)"
    assert details[1].startswith(f"fac-001/{sparse}: 2880 of 5760") and len(details) == 2
    assert all(c.passed for n, c in _checks(result).items() if n != "completeness")
    [summary] = load_summaries(open_store(settings, str(tmp_path)))
    assert summary["status"] == "warning" and summary["checks"]["completeness"]["details"] == details


def test_definitions_schedule_the_daily_archive_and_the_monthly_drill() -> None:
    from dagster import AssetCheckKey, AssetKey

    from pipelines.definitions import defs

    daily = defs.resolve_schedule_def("archive_job_schedule")
    assert daily.cron_schedule == "30 1 * * *" and daily.job.name == "archive_job"
    drill = defs.resolve_schedule_def("archive_restore_drill_monthly")
    assert drill.cron_schedule == "0 3 1 * *"
    graph = defs.resolve_asset_graph()
    key = AssetKey("readings_archive")
    assert graph.get(key).partitions_def is not None
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == key}
    assert {"schema", "completeness", "archive_integrity", "restore_drill_check"} <= checks
    assert AssetCheckKey(key, "schema") in graph.asset_check_keys
