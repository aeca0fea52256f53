"""Rolling conformal calibration of the P10-P90 band: each forecast day's margin from the latest scored days.

A conformity score says how far the measured load fell outside the model's *raw* band
(negative: inside), in normalised load (kW / contract demand): max(p10 - y, y - p90). The
margin that makes the band cover `TARGET_COVERAGE` of a set of scores is their
finite-sample quantile (`conformal_quantile`). One margin fixed at training time drifts:
forecast errors come in multi-day weather episodes, and on 15 validation windows the band
covered ~81 % in the week after its calibration and ~72 % in the second. So every forecast
day gets the margin of the latest `WINDOW_DAYS` days scored out of sample (`rolling_margin`),
in the backtest (`ml.backtest`) and live (`assets.forecasts`) alike.

Forecasts are stored with the margin they were issued with (`band_margin`), so a stored
band scores as if raw: max(p10 - kw, kw - p90) / contract demand + band_margin
(`conformity`). That is exact unless the band was clipped (at 0 kW, or at P50 for a
negative margin), where it errs slightly.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

TARGET_COVERAGE = 0.8  # of the P10-P90 band
WINDOW_DAYS = 7  # scored days per margin (chosen on validation windows, see docs/forecasting.md)
MIN_DAYS = 3  # fewer scored days: the margin measured at training time is used instead


def conformal_quantile(scores: np.ndarray, coverage: float = TARGET_COVERAGE) -> float:
    """The finite-sample `coverage`-quantile of conformity scores: ceil((n + 1) * coverage) / n."""
    level = min(1.0, np.ceil((len(scores) + 1) * coverage) / len(scores))
    return float(np.quantile(scores, level))


def conformity(band: pl.DataFrame) -> pl.DataFrame:
    """facility_id, ts, score of rows with p10, p90, kw, contract_demand_kw and band_margin (see module doc)."""
    cd = pl.col("contract_demand_kw")
    outside = pl.max_horizontal((pl.col("p10") - pl.col("kw")) / cd, (pl.col("kw") - pl.col("p90")) / cd)
    return band.drop_nulls(["p10", "p90", "kw", "band_margin"]).select(
        "facility_id", "ts", score=outside + pl.col("band_margin"))


def rolling_margin(scores: pl.DataFrame, before: datetime, *, days: int = WINDOW_DAYS, min_days: int = MIN_DAYS
                   ) -> tuple[float, int] | None:
    """(margin, days used) from the scores (ts, score) of the latest `days` UTC days before `before`.

    Days without scores (e.g. public holidays, left out by the caller) do not count; with fewer
    than `min_days` scored days the answer is None and the caller keeps its stored margin.
    """
    earlier = scores.filter(pl.col("ts") < before).with_columns(day=pl.col("ts").dt.date())
    recent = earlier["day"].unique().sort(descending=True).head(days)
    if recent.len() < min_days:
        return None
    window = earlier.filter(pl.col("day").is_in(recent.implode()))
    return conformal_quantile(window["score"].to_numpy()), recent.len()
