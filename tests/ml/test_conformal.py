"""Rolling conformal margins: each day's band from the latest scored days, and stored bands scored as raw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ml.conformal import WINDOW_DAYS, conformal_quantile, conformity, rolling_margin

START = datetime(2025, 6, 2, tzinfo=UTC)


def daily_scores(days: int, spread: float, seed: int, start: datetime = START) -> pl.DataFrame:
    """ts, score every 15 min: scores of a band whose errors have the given spread around its edges."""
    rng = np.random.default_rng(seed)
    n = days * 96
    return pl.DataFrame({"ts": [start + i * timedelta(minutes=15) for i in range(n)],
                         "score": rng.normal(-0.05, spread, n)})


def test_the_finite_sample_quantile_covers_the_target_share() -> None:
    scores = np.arange(1.0, 11.0)  # 10 scores: ceil(11 * 0.8) / 10 = 0.9
    assert conformal_quantile(scores) == pytest.approx(np.quantile(scores, 0.9))
    assert conformal_quantile(np.array([3.0, 1.0])) == 3.0  # few scores: the largest


def test_the_margin_follows_a_widened_error_regime() -> None:
    calm = daily_scores(7, spread=0.02, seed=1)
    stormy = daily_scores(7, spread=0.10, seed=2, start=START + timedelta(days=7))
    history = pl.concat([calm, stormy])
    margins = [rolling_margin(history, START + timedelta(days=d)) for d in range(7, 15)]
    assert all(m is not None for m in margins)
    widening = [m[0] for m in margins if m is not None]
    assert widening[:WINDOW_DAYS + 1] == sorted(widening[:WINDOW_DAYS + 1])  # grows day by day into the storm
    assert min(widening[WINDOW_DAYS:]) > widening[0] + 0.05
    latest = stormy.filter(pl.col("ts") >= START + timedelta(days=14 - WINDOW_DAYS))
    assert widening[-1] == conformal_quantile(latest["score"].to_numpy())  # only the latest days count
    assert margins[-1] is not None and margins[-1][1] == WINDOW_DAYS


def test_too_little_history_gives_no_margin_and_the_stored_one_is_kept() -> None:
    two_days = daily_scores(2, spread=0.05, seed=3)
    assert rolling_margin(two_days, START + timedelta(days=2)) is None
    assert rolling_margin(daily_scores(3, spread=0.05, seed=3), START + timedelta(days=3)) is not None
    assert rolling_margin(two_days, START) is None  # nothing scored before the origin


def test_days_without_scores_do_not_count() -> None:
    history = pl.concat([daily_scores(WINDOW_DAYS - 1, 0.02, seed=4),  # then a day without scores (a holiday, say)
                         daily_scores(1, 0.08, seed=5, start=START + timedelta(days=WINDOW_DAYS))])
    margin = rolling_margin(history, START + timedelta(days=WINDOW_DAYS + 1))
    assert margin is not None and margin[1] == WINDOW_DAYS  # reaches back past the day without scores
    assert margin[0] == conformal_quantile(history["score"].to_numpy())


def test_a_forecast_scores_by_its_raw_band_in_normalised_load() -> None:
    contract = 500.0
    issued = pl.DataFrame({"facility_id": ["f", "f", "f"], "ts": [START + i * timedelta(minutes=15) for i in range(3)],
                           "raw_p10": [200.0, 200.0, 200.0], "raw_p90": [300.0, 300.0, None],
                           "kw": [325.0, 250.0, 250.0], "contract_demand_kw": [contract] * 3})
    scores = conformity(issued)["score"].to_list()
    assert scores == pytest.approx([25 / contract, -50 / contract])  # above P90 by 25 kW; inside, 50 kW from an edge
    # Fallback and manual forecasts have no raw band: not scored (the third row).
