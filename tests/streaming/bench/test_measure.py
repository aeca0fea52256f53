"""The bench's Prometheus scrape: numeric samples by name, a `null` sample skipped instead of failing the page."""

from __future__ import annotations

from streaming.bench.measure import samples

PAGE = """# HELP questdb_commits_total commits
# TYPE questdb_commits_total counter
questdb_commits_total 1234
questdb_wal_apply_written_rows_total 3.5e6
questdb_memory_free_count null
sems_beam_batch_duration_seconds_sum{job="beam"} 12.25
sems_beam_runs_total{job="beam",le="+Inf"} 7 1764380000000
"""


def test_numeric_samples_are_read_by_name_and_null_ones_skipped() -> None:
    assert samples(PAGE) == {
        "questdb_commits_total": 1234.0,
        "questdb_wal_apply_written_rows_total": 3_500_000.0,
        "sems_beam_batch_duration_seconds_sum": 12.25,
        "sems_beam_runs_total": 7.0,
    }
