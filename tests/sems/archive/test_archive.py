"""Archiving a day from the real test QuestDB: manifest, write-once versions, read-back, verify, restore."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from sems.archive.restore import compare, drop_scratch, restore_day, wait_applied
from sems.archive.store import ArchiveError, open_store
from sems.archive.verify import verify_store
from sems.archive.writer import archive_day
from sems.settings import Settings
from sems.stores import postgres
from sems.stores.questdb import query
from sems.stores.questdb_schema import tables
from tests.sems.archive.support import free_day, readings_of_day, seed


@pytest.fixture(scope="module")
def seeded(settings: Settings) -> tuple:
    """One day with two fresh meters in QuestDB; returns (day, rows of readings that day)."""
    day = free_day(settings)
    meters = [f"arch-{uuid.uuid4().hex[:6]}-m{i:02d}" for i in (1, 2)]
    return day, seed(settings, readings_of_day(day, meters), day)


def test_archive_writes_parquet_and_a_manifest_that_describes_it(settings: Settings, seeded: tuple,
                                                                   tmp_path: Path) -> None:
    day, rows = seeded
    event_id = f"archive-test-{uuid.uuid4().hex[:8]}"
    engine = postgres.engine(settings)
    with engine.begin() as conn:  # dr_audit_log is append-only: this entry stays, under a unique event id
        conn.execute(text("INSERT INTO dr_audit_log (event_id, ts, actor, transition, detail) VALUES "
                          "(:e, :ts, 'archive-test', 'pending->dispatching', '{\"k\": 1}')"),
                     {"e": event_id, "ts": f"{day}T12:00:00+00:00"})
    engine.dispose()
    store = open_store(settings, str(tmp_path))
    manifest = archive_day(settings, store, day)

    audit = pq.read_table(tmp_path / f"day={day}" / "v0001" / "dr_audit_log.parquet").to_pylist()
    assert [(a["actor"], a["detail"]) for a in audit if a["event_id"] == event_id] == [("archive-test", '{"k": 1}')]
    assert manifest.file("dr_audit_log").source == "postgres"

    assert manifest.version == 1 and manifest.software_version.startswith("sems ")
    assert {f.dataset for f in manifest.files} == {*tables(settings), "dr_audit_log"}
    readings = manifest.file("readings")
    path = tmp_path / f"day={day}" / "v0001" / "readings.parquet"
    assert readings.rows == rows and readings.min_ts is not None and readings.min_ts.startswith(str(day))
    assert readings.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert readings.bytes == path.stat().st_size
    assert {c.name: c.source_type for c in readings.columns}["meter_id"] == "SYMBOL"
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_rows == rows
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    assert parquet.schema_arrow.field("ts").type.tz == "UTC"


def test_a_rerun_writes_a_new_version_beside_the_old_one(settings: Settings, seeded: tuple, tmp_path: Path) -> None:
    day, _ = seeded
    store = open_store(settings, str(tmp_path))
    first = archive_day(settings, store, day)
    before = (tmp_path / f"day={day}" / "v0001" / "manifest.json").read_bytes()
    second = archive_day(settings, store, day)

    assert (first.version, second.version) == (1, 2)
    assert (tmp_path / f"day={day}" / "v0001" / "manifest.json").read_bytes() == before
    assert store.archived_versions(day) == [1, 2]
    assert all(check.ok for check in verify_store(store))


def _damage(path: Path, how: str) -> None:
    if how == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.unlink()


def test_verify_fails_loudly_on_corrupt_truncated_and_deleted_files(settings: Settings, seeded: tuple,
                                                                    tmp_path: Path) -> None:
    day, _ = seeded
    store = open_store(settings, str(tmp_path))
    archive_day(settings, store, day)
    version = tmp_path / f"day={day}" / "v0001"
    damage = {"readings": ("corrupt", "sha256"), "meter_load_1m": ("truncate", "bytes"),
              "facility_load_1h": ("delete", "missing")}
    for dataset, (how, _) in damage.items():
        _damage(version / f"{dataset}.parquet", how)

    [check] = verify_store(store)
    for dataset, (_, symptom) in damage.items():
        assert any(f"{dataset}.parquet" in p and symptom in p for p in check.problems), check.problems
    assert not any("facility_load_1m.parquet" in p for p in check.problems)  # the untouched file stays intact
    cli = subprocess.run([sys.executable, "-m", "sems.cli", "archive", "verify", "--root", str(tmp_path)],
                         capture_output=True, text=True, timeout=180)
    assert cli.returncode == 1
    assert cli.stderr.count(f"error: {version}") == 3 and "Traceback" not in cli.stderr
    assert "1 versions checked, 1 failed" in cli.stdout
    with pytest.raises(ArchiveError, match="fails verification"):
        restore_day(settings, store, day, table=f"restore_damaged_{uuid.uuid4().hex[:8]}")


def test_restore_matches_the_manifest_and_a_difference_is_reported(settings: Settings, seeded: tuple,
                                                                    tmp_path: Path) -> None:
    day, rows = seeded
    store = open_store(settings, str(tmp_path))
    manifest = archive_day(settings, store, day)
    table = f"restore_test_{uuid.uuid4().hex[:8]}"
    try:
        report = restore_day(settings, store, day, "readings", table)
        assert report.ok, report.mismatches
        assert report.rows == rows == int(query(settings, f"SELECT count() AS n FROM {table}")[0]["n"])
        query(settings, f"INSERT INTO {table} (ts, facility_id, meter_id, kw) VALUES ('{day}T12:00:00.000000Z', "
                        "'fac-001', 'intruder', 5.0)")
        wait_applied(settings, table)
        drifted = compare(settings, manifest, manifest.file("readings"), table)
        assert any(m.startswith("rows: restored") for m in drifted.mismatches)
        assert any(m.startswith("sum(kw)") for m in drifted.mismatches)
        with pytest.raises(ArchiveError, match="exists"):
            restore_day(settings, store, day, "readings", table)
        with pytest.raises(ArchiveError, match="refusing"):
            restore_day(settings, store, day, "readings", "readings")
    finally:
        drop_scratch(settings, table)


def test_s3_archive_round_trip_through_the_local_s3_server(settings: Settings, seeded: tuple) -> None:
    day, rows = seeded
    root = f"s3://{settings.s3_bucket}/test-{uuid.uuid4().hex[:8]}"
    store = open_store(settings, root)
    manifest = archive_day(settings, store, day)
    assert store.fs.exists(f"{store.version_dir(day, 1)}/manifest.json")
    assert manifest.file("readings").rows == rows
    assert [c.ok for c in verify_store(store)] == [True]

    table = f"restore_s3_{uuid.uuid4().hex[:8]}"
    cli = subprocess.run(
        [sys.executable, "-m", "sems.cli", "archive", "restore", "--day", str(day), "--table", table, "--root", root],
        capture_output=True, text=True, timeout=180,
    )
    try:
        assert cli.returncode == 0, cli.stderr
        assert f"restored {rows} rows" in cli.stdout and "matches the manifest" in cli.stdout
    finally:
        drop_scratch(settings, table)
    store.fs.rm(f"{store.version_dir(day, 1)}/meter_load_1m.parquet")
    [check] = verify_store(store)
    assert any("meter_load_1m.parquet: missing" in p for p in check.problems)


def test_an_unreachable_object_store_is_one_line_error(settings: Settings) -> None:
    env = {**os.environ, "SEMS_S3_ENDPOINT_URL": f"http://{settings.host}:1", "SEMS_S3_TIMEOUT_S": "1"}
    cli = subprocess.run([sys.executable, "-m", "sems.cli", "archive", "verify", "--root", "s3://sems-archive/x"],
                         capture_output=True, text=True, timeout=180, env=env)
    assert cli.returncode == 1
    assert cli.stderr.startswith("error: Could not connect to the endpoint") and "Traceback" not in cli.stderr


def test_restore_of_a_day_never_archived_is_one_line_error(settings: Settings, tmp_path: Path) -> None:
    cli = subprocess.run([sys.executable, "-m", "sems.cli", "archive", "restore", "--day", "2001-01-01",
                          "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1
    assert cli.stderr.strip().count("\n") == 0 and cli.stderr.startswith("error: no archive of 2001-01-01")
