"""Rolling conformal margins: each day's band from the latest scored days, and stored bands scored as raw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ml.conformal import conformal_quantile, conformity, rolling_margin

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
    assert widening == sorted(widening) and widening[-1] > widening[0] + 0.05  # grows day by day
    assert widening[-1] == conformal_quantile(stormy["score"].to_numpy())  # a week on: only the new regime
    assert margins[-1] is not None and margins[-1][1] == 7


def test_too_little_history_gives_no_margin_and_the_stored_one_is_kept() -> None:
    two_days = daily_scores(2, spread=0.05, seed=3)
    assert rolling_margin(two_days, START + timedelta(days=2)) is None
    assert rolling_margin(daily_scores(3, spread=0.05, seed=3), START + timedelta(days=3)) is not None
    assert rolling_margin(two_days, START) is None  # nothing scored before the origin


def test_days_without_scores_do_not_count() -> None:
    history = pl.concat([daily_scores(3, 0.02, seed=4), daily_scores(7, 0.02, seed=5, start=START + timedelta(days=4))])
    margin = rolling_margin(history, START + timedelta(days=11))  # day 4 (a holiday, say) has no scores
    assert margin is not None and margin[1] == 7
    window = history.filter(pl.col("ts") >= START + timedelta(days=4))
    assert margin[0] == conformal_quantile(window["score"].to_numpy())


def test_a_stored_band_scores_as_its_raw_band() -> None:
    raw_p10, raw_p90, y, margin, contract = 0.40, 0.60, 0.65, 0.02, 500.0
    stored = pl.DataFrame({"facility_id": ["f"], "ts": [START], "p10": [(raw_p10 - margin) * contract],
                           "p90": [(raw_p90 + margin) * contract], "kw": [y * contract],
                           "contract_demand_kw": [contract], "band_margin": [margin]})
    assert conformity(stored)["score"][0] == pytest.approx(max(raw_p10 - y, y - raw_p90))
    assert conformity(stored.with_columns(band_margin=None)).is_empty()  # fallback/manual rows: no score
