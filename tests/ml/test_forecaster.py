"""Features, quantile model, backtest metrics and the promotion gate on simulated multi-week history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from ml import backtest, features
from ml.conformal import WINDOW_DAYS, conformal_quantile
from ml.metrics import scores
from tests.ml.history import START, facilities_frame, simulated_history, small_fleet

FLEET = small_fleet(3)  # New York, Chicago, Berlin: the test week starts on Whit Monday in Germany


@pytest.fixture(scope="module")
def history() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    load, weather = simulated_history(FLEET, START, 42)
    return load, weather, facilities_frame(FLEET)


@pytest.fixture(scope="module")
def result(history: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> backtest.BacktestResult:
    load, weather, facilities = history
    return backtest.run(load, weather, facilities, train_days=35, rounds=60)


def test_features_look_back_a_day_and_know_the_calendar(history: tuple[pl.DataFrame, ...]) -> None:
    load, weather, facilities = history
    at = datetime(2025, 5, 26, 16, 0, tzinfo=UTC)  # Memorial Day, noon in New York
    rows = features.build(pl.DataFrame({"facility_id": ["fac-001"], "ts": [at]}), load, weather, facilities)
    row = rows.row(0, named=True)
    contract = facilities.filter(pl.col("facility_id") == "fac-001")["contract_demand_kw"][0]
    kw = dict(zip(load.filter(pl.col("facility_id") == "fac-001")["ts"], load["kw"], strict=False))
    assert row["lag_1d"] == pytest.approx(kw[at - timedelta(days=1)] / contract)
    assert row["lag_7d"] == pytest.approx(kw[at - timedelta(days=7)] / contract)
    assert row["hour"] == 12.0 and row["weekday"] == 1 and row["is_holiday"] == 1
    assert row["cooling_dh"] == pytest.approx(max(0.0, row["temp_c"] - 22.0))
    assert set(features.FEATURES) <= set(rows.columns)


def test_model_beats_both_baselines_with_calibrated_bands(result: backtest.BacktestResult) -> None:
    model, naive, average = (result.metrics[m] for m in backtest.METHODS)
    assert result.origins == 6 and model["n"] == 6 * 96 * len(FLEET)
    assert model["cv_rmse"] < 0.85 * min(naive["cv_rmse"], average["cv_rmse"])
    assert abs(model["nmbe"]) <= 0.05
    assert 0.6 <= model["coverage_p10_p90"] <= 0.95
    assert model["pinball"] < min(naive["pinball"], average["pinball"])
    preds = result.predictions
    assert (preds["model_p10"] <= preds["model_p50"]).all() and (preds["model_p50"] <= preds["model_p90"]).all()
    assert sum(result.model.importance().values()) == pytest.approx(1.0)


def test_promotion_gate_names_who_was_not_beaten(result: backtest.BacktestResult) -> None:
    promoted, why = backtest.promotion(result.metrics, None)
    assert promoted and "seasonal_naive" in why
    better_champion = {"cv_rmse": 0.001, "pinball": 0.001}
    promoted, why = backtest.promotion(result.metrics, better_champion)
    assert not promoted and "champion (cv_rmse" in why and "champion (pinball" in why
    worse_model = {**result.metrics, "model": {**result.metrics["model"], "cv_rmse": 9.9}}
    assert backtest.promotion(worse_model, None)[1].startswith("not promoted: does not beat seasonal_naive")


def test_scores_on_known_numbers() -> None:
    frame = pl.DataFrame({"kw": [10.0, 20.0], "p10": [8.0, 21.0], "p50": [9.0, 22.0], "p90": [12.0, 25.0]})
    s = scores(frame)
    assert s["cv_rmse"] == pytest.approx(((1 + 4) / 2) ** 0.5 / 15)
    assert s["nmbe"] == pytest.approx((1 - 2) / (2 * 15))
    assert s["mape"] == pytest.approx((0.1 + 0.1) / 2)
    assert s["coverage_p10_p90"] == 0.5
    # pinball: p10 (0.2, 0.9), p50 (0.5, 1.0), p90 (0.2, 0.5) -> means 0.55, 0.75, 0.35
    assert s["pinball"] == pytest.approx((0.55 + 0.75 + 0.35) / 3)
    with pytest.raises(ValueError, match="nothing to score"):
        scores(frame.clear())


def test_each_origin_is_recalibrated_on_the_days_scored_before_it(result: backtest.BacktestResult) -> None:
    margins = result.margins
    assert margins["origin"].to_list() == [result.train_end + timedelta(days=d) for d in range(result.origins)]
    slice_ = result.model.calibration_scores  # day 1: the latest days of the calibration slice
    latest = slice_.filter(pl.col("ts") >= result.train_end - timedelta(days=WINDOW_DAYS))["score"].to_numpy()
    assert margins["band_margin"][0] == pytest.approx(conformal_quantile(latest))
    assert (margins["days"] == WINDOW_DAYS).all()  # the slice's last days, then the origins already forecast
    assert margins["band_margin"].n_unique() > 1  # the margin moves with what the model got right or wrong
