"""Conformal calibration of the quantile model's P10-P90 band: it lands near 80 %, travels with the booster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow.xgboost
import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from ml.features import FEATURES
from ml.quantile import MARGIN_ATTR, TARGET_COVERAGE, QuantileModel, fit, train

START = datetime(2025, 3, 3, tzinfo=UTC)
# Deep trees, many rounds, no subsampling: the raw band hugs the training residuals, far too narrow out of sample.
OVERFIT: dict[str, Any] = {"max_depth": 6, "min_child_weight": 1, "subsample": 1.0, "learning_rate": 0.3}


def synthetic(days: int, seed: int, start: datetime = START) -> pl.DataFrame:
    """Feature rows every 15 min: y depends on two features plus noise the features cannot explain."""
    rng = np.random.default_rng(seed)
    n = days * 96
    columns = {name: rng.uniform(0, 1, n) for name in FEATURES}
    columns["contract_demand_kw"] = np.full(n, 500.0)
    columns["is_holiday"] = np.zeros(n)
    y = 0.4 + 0.3 * columns["lag_7d"] + 0.1 * columns["temp_c"] + rng.normal(0, 0.05, n)
    return pl.DataFrame({"facility_id": "fac-1", "ts": [start + i * timedelta(minutes=15) for i in range(n)],
                         **columns, "y": y})


def coverage(model: QuantileModel, rows: pl.DataFrame) -> float:
    band = model.normalised(rows)
    y = rows["y"].to_numpy()
    return float(np.mean((y >= band[:, 0]) & (y <= band[:, 2])))


@pytest.fixture(scope="module")
def unseen() -> pl.DataFrame:
    return synthetic(21, seed=2, start=START + timedelta(days=28))


@pytest.fixture(scope="module")
def calibrated() -> QuantileModel:
    return train(synthetic(28, seed=1), rounds=60, calibration_days=7, **OVERFIT)


def test_calibration_widens_a_too_narrow_band_to_the_target(calibrated: QuantileModel, unseen: pl.DataFrame
                                                            ) -> None:
    raw = fit(synthetic(28, seed=1), rounds=60, **OVERFIT)
    assert coverage(raw, unseen) < 0.65  # the premise: uncalibrated, the band is too narrow
    assert calibrated.margin > 0
    assert calibrated.calibration["calibration_raw_coverage"] < 0.7
    assert coverage(calibrated, unseen) == pytest.approx(TARGET_COVERAGE, abs=0.05)
    band = calibrated.normalised(unseen)
    assert (band[:, 0] <= band[:, 1]).all() and (band[:, 1] <= band[:, 2]).all() and (band >= 0).all()


def test_margin_survives_saving_and_loading_the_booster(calibrated: QuantileModel, unseen: pl.DataFrame,
                                                        tmp_path: Path) -> None:
    expected = calibrated.predict(unseen).select("p10", "p50", "p90")
    calibrated.booster.save_model(tmp_path / "model.json")
    from_json = xgb.Booster(model_file=tmp_path / "model.json")
    mlflow.xgboost.save_model(calibrated.booster, tmp_path / "mlflow", pip_requirements=["xgboost"])
    from_mlflow = mlflow.xgboost.load_model(str(tmp_path / "mlflow"))  # what load_champion does
    for booster in (from_json, from_mlflow):
        assert booster.attr(MARGIN_ATTR) is not None
        loaded = QuantileModel(booster)
        assert loaded.margin == calibrated.margin
        assert loaded.predict(unseen).select("p10", "p50", "p90").equals(expected)


def test_booster_without_margin_predicts_its_raw_band(unseen: pl.DataFrame) -> None:
    old = fit(synthetic(28, seed=1), rounds=20)  # as champions trained before calibration
    assert old.booster.attr(MARGIN_ATTR) is None and old.margin == 0.0
    data = xgb.DMatrix(unseen.select(FEATURES).to_numpy().astype(np.float32), feature_names=FEATURES)
    raw = np.clip(np.sort(old.booster.predict(data).reshape(-1, 3), axis=1), 0, None) * 500.0
    predicted = old.predict(unseen)
    assert np.allclose(predicted.select("p10", "p50", "p90").to_numpy(), raw)


def test_a_negative_margin_narrows_but_never_crosses_the_median(unseen: pl.DataFrame) -> None:
    model = fit(synthetic(28, seed=1), rounds=20)
    model.booster.set_attr(**{MARGIN_ATTR: "-10.0"})
    band = model.normalised(unseen)
    assert (band[:, 0] == band[:, 1]).all() and (band[:, 2] == band[:, 1]).all()


def test_short_history_trains_without_a_calibration_slice() -> None:
    model = train(synthetic(8, seed=3), rounds=10, calibration_days=0)
    assert model.margin == 0.0 and model.calibration == {}


def test_a_fit_samples_down_to_max_rows_and_repeats_itself() -> None:
    rows = synthetic(14, seed=4)  # 1,344 rows
    first, again = (fit(rows, rounds=10, max_rows=500) for _ in range(2))
    assert first.rows == 500 and fit(rows, rounds=10).rows == rows.height
    assert first.predict(rows).select("p10", "p50", "p90").equals(again.predict(rows).select("p10", "p50", "p90"))


def test_an_explicit_margin_replaces_the_stored_one_and_is_kept_per_row(calibrated: QuantileModel,
                                                                         unseen: pl.DataFrame) -> None:
    stored = calibrated.predict(unseen)
    wider = calibrated.predict(unseen, margin=calibrated.margin + 0.05)
    assert (stored["band_margin"] == calibrated.margin).all() and (wider["band_margin"] > calibrated.margin).all()
    assert (wider["p90"] >= stored["p90"]).all() and (wider["p10"] <= stored["p10"]).all()
    assert wider["p50"].equals(stored["p50"])
    kw = unseen["y"] * 500.0
    assert coverage(calibrated, unseen) < float(((kw >= wider["p10"]) & (kw <= wider["p90"])).mean())


def test_training_keeps_the_calibration_slices_scores(calibrated: QuantileModel) -> None:
    scores = calibrated.calibration_scores
    assert scores.height == 7 * 96 and scores["ts"].min() > START + timedelta(days=20)
    assert float(np.mean(scores["score"].to_numpy() <= calibrated.margin)) == pytest.approx(TARGET_COVERAGE, abs=0.01)
