"""The 4-week same-weekday fallback: its median, its wider bands and its quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from ml.fallback import MIN_BAND, four_week_average
from tests.ml.history import START, simulated_history, small_fleet

STEP, DAY = timedelta(minutes=15), timedelta(days=1)


def test_fallback_is_the_four_week_mean_with_wider_bands() -> None:
    load, _ = simulated_history(small_fleet(1), START, 35)
    issued_at = START + 35 * DAY
    narrow = four_week_average(load, ["fac-001"], issued_at, horizon=DAY, step=STEP, widening=1.0, quality=0.3)
    wide = four_week_average(load, ["fac-001"], issued_at, horizon=DAY, step=STEP, widening=2.0, quality=0.3)
    first = narrow.row(0, named=True)
    weeks = load.filter(pl.col("ts").is_in([issued_at - timedelta(weeks=w) for w in range(1, 5)]))
    assert abs(first["p50"] - weeks["kw"].mean()) < 1e-9  # type: ignore[operator]
    assert narrow.height == 96 and set(narrow["source"]) == {"fallback"}
    assert ((wide["p90"] - wide["p10"]) > (narrow["p90"] - narrow["p10"])).all()
    assert (narrow["data_quality_score"] == 0.3).all()


def test_slots_without_any_past_week_take_the_mean_at_half_quality() -> None:
    load, _ = simulated_history(small_fleet(1), START, 3)  # three days: no slot a week ago
    rows = four_week_average(load, ["fac-001", "fac-unknown"], START + 3 * DAY, horizon=DAY, step=STEP,
                             widening=2.0, quality=0.3)
    assert set(rows["facility_id"]) == {"fac-001"}  # nothing invented for a facility without history
    assert (rows["data_quality_score"] == 0.15).all() and (rows["p10"] <= rows["p50"]).all()
    assert abs(rows["p50"][0] - load["kw"].mean()) < 1e-9  # type: ignore[operator]


def test_a_few_minutes_of_flat_history_still_get_a_band() -> None:
    issued = datetime(2025, 6, 4, 12, tzinfo=UTC)
    slots = [issued - timedelta(minutes=30), issued - timedelta(minutes=15)]
    flat = pl.DataFrame({"facility_id": ["f1", "f1"], "ts": slots, "kw": [200.0, 200.0]}).with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")))
    rows = four_week_average(flat, ["f1"], issued, horizon=timedelta(hours=1), step=timedelta(minutes=15),
                             widening=1.5, quality=0.4)
    assert rows.height == 4
    assert (rows["p10"] < rows["p50"]).all() and (rows["p50"] < rows["p90"]).all()
    assert rows["p90"][0] - rows["p50"][0] == 200.0 * MIN_BAND * 1.5
