"""`sems forecast upload`: manual profiles land as source='manual'; bad CSVs end with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from pipelines.resources import PostgresResource
from sems.settings import Settings


def _upload(path: Path, facility: str = "fac-001") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sems.cli", "forecast", "upload", str(path), "--facility", facility],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False)


@pytest.mark.parametrize(("body", "message"), [
    ("time,kw\n2030-01-01T00:00,5\n", "missing column(s) ts"),
    ("ts,kw\nyesterday,5\n", "not ISO 8601"),
    ("ts,kw\n2030-01-01T00:00,lots\n", "not numbers"),
    ("ts,kw\n2030-01-01T00:00,-3\n", "negative kw"),
    ("ts,kw,p10,p90\n2030-01-01T00:00,5,6,7\n", "p10 <= kw <= p90"),
])
def test_bad_csvs_end_with_one_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "profile.csv"
    path.write_text(body)
    done = _upload(path)
    assert done.returncode == 1 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_upload_writes_manual_steps_on_the_forecast_grid(settings: Settings, tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(days=3650)).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    lines = [f"{start + timedelta(minutes=5 * i):%Y-%m-%dT%H:%M:%S},{10 + i}" for i in range(6)]  # 5-minute data
    path = tmp_path / "profile.csv"
    path.write_text("ts,kw\n" + "\n".join(lines) + "\n")
    assert _upload(path, "fac-unknown").stderr.strip() == "error: unknown facility fac-unknown"

    done = _upload(path)
    assert done.returncode == 0, done.stderr
    with PostgresResource.from_settings(settings).transaction() as conn:
        rows = conn.execute(text(
            "SELECT ts, p50, source, model_version FROM load_forecasts WHERE facility_id = 'fac-001' "
            "AND ts >= :s AND ts < :e ORDER BY generated_at DESC, ts LIMIT 2"),
            {"s": start.replace(tzinfo=UTC), "e": start.replace(tzinfo=UTC) + timedelta(hours=1)}).all()
    assert [r[1] for r in rows] == [11.0, 14.0]  # means of the two quarter-hours
    assert {r[2] for r in rows} == {"manual"} and rows[0][3] == "manual:profile.csv"
