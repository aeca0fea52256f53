"""XGBoost quantile regression: one model giving P10, P50 and P90 of normalised load per step.

The raw P10-P90 band of quantile boosting is too narrow out of sample (it fits the training
residuals), so `train` calibrates it by conformalized quantile regression (CQR): a model
fitted without the last `calibration_days` of the training rows predicts them, the
conformity scores max(p10 - y, y - p90) (`ml.conformal`) give the margin that makes the band
cover `TARGET_COVERAGE` of that slice, and the model refitted on all rows keeps that margin
and the slice's scores. The margin is a booster attribute, so it travels with the model
through MLflow to the live forecast; `QuantileModel.predict` applies it, or the margin it is
given: forecasts recalibrate daily from recent scores (`ml.conformal.rolling_margin`) and the
stored margin is what they start from. A booster without it, an older champion, predicts
its raw band.

Each fit sees at most `MAX_TRAINING_ROWS` rows, drawn uniformly (seeded) when there are
more: the quantile objective costs ~10x a squared-error fit per round (three trees, one per
quantile, each with its leaves recomputed from residual quantiles), so at fleet scale
(1,000 facilities x 1 year = 8.76 M hourly rows) training time would grow with the fleet; on
the speed bench's fleet the model's accuracy stopped improving beyond ~250,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from ml.conformal import TARGET_COVERAGE, conformal_quantile, conformity
from ml.features import FEATURES

QUANTILES = (0.1, 0.5, 0.9)
MAX_TRAINING_ROWS = 1_000_000  # per fit; more are sampled down (see module doc)
MARGIN_ATTR = "cqr_margin"  # booster attribute: the band's widening, in normalised load
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "reg:quantileerror",
    "quantile_alpha": np.array(QUANTILES),
    "tree_method": "hist",
    "learning_rate": 0.15,
    "max_depth": 4,
    "min_child_weight": 4,
    "subsample": 0.8,
    "max_bin": 64,
    "nthread": 2,  # the machine has two cores
}


def matrix(rows: pl.DataFrame) -> np.ndarray:
    """The feature columns as float32, the precision XGBoost bins in anyway."""
    return rows.select(pl.col(FEATURES).cast(pl.Float32)).to_numpy()


@dataclass
class QuantileModel:
    """The booster and what it was trained with; predicts kW (quantiles sorted, never crossing)."""

    booster: xgb.Booster
    params: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0
    calibration: dict[str, float] = field(default_factory=dict)  # what CQR measured, for MLflow
    rows: int = 0  # the rows it was fitted on (after sampling)
    calibration_scores: pl.DataFrame = field(default_factory=pl.DataFrame)  # facility_id, ts, score of the slice

    @property
    def margin(self) -> float:
        """The conformal widening stored in the booster (0 for boosters trained before calibration)."""
        return float(self.booster.attr(MARGIN_ATTR) or 0.0)

    def _sorted(self, rows: pl.DataFrame) -> np.ndarray:
        data = xgb.DMatrix(matrix(rows), feature_names=FEATURES, nthread=DEFAULT_PARAMS["nthread"])
        return np.sort(self.booster.predict(data).reshape(rows.height, len(QUANTILES)), axis=1)

    def _bands(self, rows: pl.DataFrame, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """(raw, calibrated) (rows, 3) P10, P50, P90 of normalised load, each P10 <= P50 <= P90, not below 0.

        The margin may be negative (a too wide band narrows), but never past the median.
        """
        raw = self._sorted(rows)
        band = np.column_stack([np.minimum(raw[:, 0] - margin, raw[:, 1]), raw[:, 1],
                                np.maximum(raw[:, 2] + margin, raw[:, 1])])
        return np.clip(raw, 0.0, None), np.clip(band, 0.0, None)  # a facility draws, it does not (here) export

    def normalised(self, rows: pl.DataFrame, margin: float | None = None) -> np.ndarray:
        """(rows, 3) P10, P50, P90 of normalised load, the band widened by `margin` (None: the stored one)."""
        return self._bands(rows, self.margin if margin is None else margin)[1]

    def predict(self, rows: pl.DataFrame, margin: float | None = None) -> pl.DataFrame:
        """rows (features + contract_demand_kw) -> the rows plus p10, p50, p90 (kW), raw_p10, raw_p90, band_margin.

        `margin` widens the band (normalised load); None: the margin stored in the booster. The raw
        band (before the margin, in kW) and the margin are kept so the forecast can be scored later
        for the next margin (`ml.conformal`).
        """
        margin = self.margin if margin is None else margin
        scale = rows["contract_demand_kw"].to_numpy()[:, None]
        raw, band = (b * scale for b in self._bands(rows, margin))
        return rows.with_columns(p10=pl.Series(band[:, 0]), p50=pl.Series(band[:, 1]), p90=pl.Series(band[:, 2]),
                                 raw_p10=pl.Series(raw[:, 0]), raw_p90=pl.Series(raw[:, 2]),
                                 band_margin=pl.lit(margin, dtype=pl.Float64))

    def importance(self) -> dict[str, float]:
        """Gain per feature, normalised to sum to 1."""
        gain = {k: float(v) for k, v in self.booster.get_score(importance_type="gain").items()}  # type: ignore[arg-type]
        total = sum(gain.values()) or 1.0
        return {name: gain.get(name, 0.0) / total for name in FEATURES}


def fit(rows: pl.DataFrame, *, rounds: int = 200, max_rows: int = MAX_TRAINING_ROWS, **overrides: Any
        ) -> QuantileModel:
    """The uncalibrated model on feature rows with a known target `y` (normalised load); rows without y are skipped.

    More than `max_rows` known rows: a uniform sample of `max_rows` (seeded, so a retrain on the same rows repeats).
    """
    known = rows.drop_nulls("y")
    if known.height < 100:
        raise ValueError(f"too little training data: {known.height} rows with a known load (need 100)")
    if known.height > max_rows:
        known = known.sample(n=max_rows, seed=0)
    params = {**DEFAULT_PARAMS, **overrides}
    data = xgb.QuantileDMatrix(matrix(known), known["y"].to_numpy(), feature_names=FEATURES,
                               max_bin=params["max_bin"], nthread=params["nthread"])
    booster = xgb.train(params, data, num_boost_round=rounds)
    return QuantileModel(booster, {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in params.items()},
                         rounds, rows=known.height)


def scored(model: QuantileModel, rows: pl.DataFrame) -> pl.DataFrame:
    """facility_id, ts, score (`ml.conformal.conformity`) of the model's raw band on the rows with a known load."""
    known = rows.drop_nulls("y")
    return conformity(model.predict(known).with_columns(kw=pl.col("y") * pl.col("contract_demand_kw")))


def conformal_margin(model: QuantileModel, rows: pl.DataFrame, coverage: float = TARGET_COVERAGE
                     ) -> tuple[float, float, pl.DataFrame]:
    """(margin, raw coverage, scores): the finite-sample (coverage)-quantile of the raw band's scores on unseen rows."""
    scores = scored(model, rows)
    values = scores["score"].to_numpy()
    return conformal_quantile(values, coverage), float(np.mean(values <= 0)), scores


def train(rows: pl.DataFrame, *, rounds: int = 200, calibration_days: int = 7, **overrides: Any) -> QuantileModel:
    """Fit on all rows with the CQR margin of a model fitted without the last `calibration_days` (see module doc).

    The slice is at most a quarter of the span, so short histories still train; 0 days = no calibration.
    The final model is refitted on all rows (the most recent days matter most for the season) and
    keeps the margin measured out of sample by the model fitted without them.
    """
    first: datetime = rows["ts"].min()  # type: ignore[assignment]
    last: datetime = rows["ts"].max()  # type: ignore[assignment]
    slice_ = min(timedelta(days=calibration_days), (last - first) / 4)
    model = fit(rows, rounds=rounds, **overrides)
    if slice_ <= timedelta(0):
        return model
    cut = last - slice_
    # Public holidays are left out of the slice: the calibration fit rarely saw one, so its errors there
    # (several times the usual) would widen the band of every ordinary day.
    unseen = rows.filter((pl.col("ts") > cut) & (pl.col("is_holiday") == 0)).drop_nulls("y")
    if unseen.is_empty():
        return model
    margin, raw, scores = conformal_margin(fit(rows.filter(pl.col("ts") <= cut), rounds=rounds, **overrides),
                                           unseen)
    model.booster.set_attr(**{MARGIN_ATTR: repr(margin)})
    model.calibration_scores = scores
    model.calibration = {"cqr_margin": margin, "calibration_raw_coverage": raw,
                         "calibration_days": slice_ / timedelta(days=1), "target_coverage": TARGET_COVERAGE}
    return model
