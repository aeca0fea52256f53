"""XGBoost quantile regression: one model giving P10, P50 and P90 of normalised load per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from ml.features import FEATURES

QUANTILES = (0.1, 0.5, 0.9)
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


@dataclass
class QuantileModel:
    """The booster and what it was trained with; predicts kW (quantiles sorted, never crossing)."""

    booster: xgb.Booster
    params: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0

    def predict(self, rows: pl.DataFrame) -> pl.DataFrame:
        """rows (features + contract_demand_kw) -> the same rows plus p10, p50, p90 in kW."""
        matrix = xgb.DMatrix(rows.select(FEATURES).to_numpy(), feature_names=FEATURES)
        raw = np.sort(self.booster.predict(matrix).reshape(rows.height, len(QUANTILES)), axis=1)
        scale = rows["contract_demand_kw"].to_numpy()[:, None]
        kw = np.clip(raw, 0.0, None) * scale  # a facility draws, it does not (here) export
        return rows.with_columns(p10=pl.Series(kw[:, 0]), p50=pl.Series(kw[:, 1]), p90=pl.Series(kw[:, 2]))

    def importance(self) -> dict[str, float]:
        """Gain per feature, normalised to sum to 1."""
        gain = {k: float(v) for k, v in self.booster.get_score(importance_type="gain").items()}  # type: ignore[arg-type]
        total = sum(gain.values()) or 1.0
        return {name: gain.get(name, 0.0) / total for name in FEATURES}


def train(rows: pl.DataFrame, *, rounds: int = 200, **overrides: Any) -> QuantileModel:
    """Fit on feature rows with a known target `y` (normalised load); rows without y are skipped."""
    known = rows.drop_nulls("y")
    if known.height < 100:
        raise ValueError(f"too little training data: {known.height} rows with a known load (need 100)")
    params = {**DEFAULT_PARAMS, **overrides}
    matrix = xgb.QuantileDMatrix(known.select(FEATURES).to_numpy(), known["y"].to_numpy(), feature_names=FEATURES,
                                 max_bin=params["max_bin"])
    booster = xgb.train(params, matrix, num_boost_round=rounds)
    return QuantileModel(booster, {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in params.items()},
                         rounds)
