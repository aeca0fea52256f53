"""Accuracy of probabilistic load forecasts: CV(RMSE), NMBE, MAPE, pinball loss and P10-P90 coverage."""

from __future__ import annotations

import polars as pl

ALPHAS = {"p10": 0.1, "p50": 0.5, "p90": 0.9}


def scores(frame: pl.DataFrame, actual: str = "kw") -> dict[str, float]:
    """Scores of `p10, p50, p90` against `actual` over the rows where both are known.

    CV(RMSE) and NMBE follow ASHRAE Guideline 14 (NMBE = sum(actual - p50) / (n * mean));
    MAPE skips zero actuals; pinball is the mean over the three quantiles, in kW.
    """
    rows = frame.drop_nulls([actual, "p10", "p50", "p90"])
    if rows.is_empty():
        raise ValueError("nothing to score: no rows with both a forecast and an actual")
    y, p50 = rows[actual], rows["p50"]
    mean = float(y.mean())  # type: ignore[arg-type]
    error = y - p50
    nonzero = rows.filter(pl.col(actual).abs() > 1e-9)
    pinball = [
        rows.select(pl.max_horizontal(a * (pl.col(actual) - pl.col(q)), (a - 1) * (pl.col(actual) - pl.col(q))).mean())
        .item()
        for q, a in ALPHAS.items()
    ]
    return {
        "cv_rmse": float((error**2).mean() ** 0.5) / mean,  # type: ignore[operator]
        "nmbe": float(error.sum()) / (rows.height * mean),
        "mape": float(((nonzero[actual] - nonzero["p50"]).abs() / nonzero[actual].abs()).mean()),  # type: ignore[arg-type]
        "pinball": sum(pinball) / len(pinball),
        "coverage_p10_p90": float(((y >= rows["p10"]) & (y <= rows["p90"])).mean()),  # type: ignore[arg-type]
        "n": float(rows.height),
    }
