"""How good were yesterday's forecasts? The day-ahead forecast of each facility scored against its meters.

"Day-ahead" = the newest forecast a facility had before the scored UTC day began (what
peak shaving and DR planned on); its steps inside the day are compared with the measured
15-minute load of `facility_load_15m` (QuestDB), joined by `assets.forecast_scoring`. The
check (severity WARN) fails when the fleet's CV(RMSE), |NMBE| or P10-P90 coverage is
outside the settings' limits, or when there was nothing to score; per-source and
worst-facility scores are its metadata.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from assets.forecast_scoring import scored_day_ahead
from assets.forecasts import load_forecast
from ml.metrics import scores
from pipelines.resources import PostgresResource, QuestDBResource
from sems.settings import get_settings

WORST = 5  # facilities listed by CV(RMSE) in the metadata


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def evaluate(postgres: PostgresResource, questdb: QuestDBResource, day: date,
             facilities: list[str] | None = None) -> AssetCheckResult:
    """The check's result for one UTC day (all facilities, or only `facilities`)."""
    settings = get_settings()
    start = datetime.combine(day, time(), tzinfo=UTC)
    joined = scored_day_ahead(postgres, questdb, start, 1, facilities)
    meta: dict[str, Any] = {"day": day.isoformat(), "scored_steps": joined.height,
                            "facilities": joined["facility_id"].n_unique() if joined.height else 0}
    if joined.is_empty():
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN, metadata={
            **meta, "reason": "nothing to score: no forecast issued before the day began with metered steps in it"})
    fleet = scores(joined)
    by_source = {s: _rounded(scores(part)) for (s,), part in joined.group_by("source")}
    by_facility = sorted(((f, scores(part)) for (f,), part in joined.group_by("facility_id")),
                         key=lambda item: -item[1]["cv_rmse"])
    problems = [f"CV(RMSE) {fleet['cv_rmse']:.3f} > {settings.forecast_score_max_cv_rmse}"
                if fleet["cv_rmse"] > settings.forecast_score_max_cv_rmse else "",
                f"|NMBE| {abs(fleet['nmbe']):.3f} > {settings.forecast_score_max_abs_nmbe}"
                if abs(fleet["nmbe"]) > settings.forecast_score_max_abs_nmbe else "",
                f"P10-P90 coverage {fleet['coverage_p10_p90']:.3f} outside {settings.forecast_score_coverage}"
                if not settings.forecast_score_coverage[0] <= fleet["coverage_p10_p90"]
                <= settings.forecast_score_coverage[1] else ""]
    lead_h = joined.select(((pl.col("ts") - pl.col("generated_at")).dt.total_seconds() / 3600).mean()).item()
    return AssetCheckResult(passed=not any(problems), severity=AssetCheckSeverity.WARN, metadata={
        **meta, **{k: round(v, 4) for k, v in fleet.items() if k != "n"},
        "reason": "; ".join(p for p in problems if p) or "within limits",
        "mean_lead_h": round(float(lead_h), 2),
        "by_source": MetadataValue.json(by_source),
        "worst_facilities": MetadataValue.json({f: _rounded(s) for f, s in by_facility[:WORST]}),
    })


@asset_check(asset=load_forecast, description="Yesterday's day-ahead forecasts vs. the metered 15-minute load.")
def forecast_accuracy_yesterday(postgres: PostgresResource, questdb: QuestDBResource) -> AssetCheckResult:
    return evaluate(postgres, questdb, datetime.now(UTC).date() - timedelta(days=1))
