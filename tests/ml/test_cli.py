"""`sems ml backtest`: one JSON object from a user's CSVs with DST, gaps and junk; bad files exit 2 with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sems.cli.main import app
from tests.ml.userdata import load_lines, local_wall_clock, weather_lines, write_csv

START = datetime(2025, 9, 28, 22, tzinfo=UTC)  # local midnight in Berlin; the clocks fall back on Oct 26
DAYS, TRAIN = 35, 28


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("user")
    times = list(local_wall_clock(START, DAYS, timedelta(minutes=15), "Europe/Berlin"))
    lines = load_lines(times)
    del lines[2000:2003]  # 45 minutes missing: interpolated
    lines += [lines[10], "n/a,5", f"{times[20]:%Y-%m-%d %H:%M:%S},lots"]  # a duplicate and junk
    write_csv(str(folder / "load.csv"), "ts,kw", lines)
    hours = list(local_wall_clock(START, DAYS, timedelta(hours=1), "Europe/Berlin"))
    write_csv(str(folder / "weather.csv"), "ts,temp_c,humidity", weather_lines(hours))
    return folder / "load.csv", folder / "weather.csv"


@pytest.mark.timeout(900)  # ~2 min of XGBoost training and backtest; 5x that on a starved shared 2-core machine
def test_backtest_prints_one_json_object_with_model_and_baselines(files: tuple[Path, Path]) -> None:
    load, weather = files
    done = subprocess.run(
        [sys.executable, "-m", "sems.cli", "ml", "backtest", "--load", str(load), "--weather", str(weather),
         "--train-days", str(TRAIN), "--timezone", "Europe/Berlin", "--country", "DE", "--rounds", "80"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])

    assert report["load"]["dst_transitions"] == 1 and report["load"]["ambiguous_local_times"] == 8
    assert report["load"]["duplicates_dropped"] == 1 and report["load"]["gaps_filled"] == 3
    assert report["load"]["rows_rejected"] == {"timestamp_unparseable": 1, "kw_not_a_number": 1}
    assert report["load"]["slots"] == DAYS * 96 and report["weather"]["slots"] == DAYS * 24
    assert report["train"]["days"] == TRAIN and report["backtest"]["origins"] == DAYS - TRAIN
    metrics = report["metrics"]
    assert set(metrics) == {"model", "seasonal_naive", "four_week_average"}
    for scores in metrics.values():
        assert set(scores) == {"cv_rmse", "nmbe", "mape", "pinball", "coverage_p10_p90", "n"}
        assert scores["n"] == (DAYS - TRAIN) * 96 and 0 <= scores["coverage_p10_p90"] <= 1
    # Load here depends on the day's temperature, which last week's load cannot know.
    assert metrics["model"]["cv_rmse"] < min(metrics["seasonal_naive"]["cv_rmse"],
                                             metrics["four_week_average"]["cv_rmse"])


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ml", "backtest", *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("body", "message"), [
    (None, "no such file"),
    ("time,kw\n2025-01-01T00:00,5\n", "missing column(s) ts"),
    ("ts,load\n2025-01-01T00:00,5\n", "missing column(s) kw"),
    ("ts,kw\n", "no rows"),
    ("ts,kw\nsoon,lots\nlater,more\n", "no usable rows"),
    ("ts,kw\n" + "".join(f"2025-01-{d:02d}T00:00,5\n" for d in range(1, 20)), "coarser than 1 h"),
    ("ts,kw\n" + "".join(f"2025-10-01T{h:02d}:00,5\n" for h in range(24)), "leaves no whole day"),
])
def test_bad_load_files_end_with_one_line_and_exit_2(files: tuple[Path, Path], tmp_path: Path, body: str | None,
                                                     message: str) -> None:
    path = tmp_path / "load.csv"
    if body is not None:
        path.write_text(body)
    code, stderr = _run("--load", str(path), "--weather", str(files[1]))
    assert code == 2 and message in stderr and stderr.startswith("error: ") and len(stderr.splitlines()) == 1


@pytest.mark.parametrize(("extra", "message"), [
    (["--timezone", "Mars/Olympus"], "unknown time zone"),
    (["--horizon-hours", "48"], "1 to 24 hours"),
    (["--train-days", "3"], "at least 7 days"),
    (["--train-days", "40"], "leaves no whole day"),
])
def test_bad_options_end_with_one_line_and_exit_2(files: tuple[Path, Path], extra: list[str], message: str) -> None:
    code, stderr = _run("--load", str(files[0]), "--weather", str(files[1]), *extra)
    assert code == 2 and message in stderr and len(stderr.splitlines()) == 1


def test_weather_that_misses_the_load_period_is_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    weather = tmp_path / "weather.csv"
    write_csv(str(weather), "ts,temp_c", [f"2020-01-01T{h:02d}:00Z,{h}" for h in range(24)])
    code, stderr = _run("--load", str(files[0]), "--weather", str(weather))
    assert code == 2 and "does not overlap the load" in stderr and len(stderr.splitlines()) == 1


def test_a_binary_file_is_not_a_series(files: tuple[Path, Path], tmp_path: Path) -> None:
    junk = tmp_path / "load.parquet"
    junk.write_bytes(b"PAR1" + os.urandom(256))
    code, stderr = _run("--load", str(junk), "--weather", str(files[1]))
    assert code == 2 and "not a readable CSV or Parquet file" in stderr and len(stderr.splitlines()) == 1
