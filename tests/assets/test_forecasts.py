"""`load_forecast` with the real resources against the running stack: fallback without a champion or MLflow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import materialize
from sqlalchemy import text

from assets.forecasts import FALLBACK_VERSION, forecast_freshness, issue, load_forecast
from assets.weather import weather_forecast
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource, resources
from sems import forecast_buffer, manual_forecast
from sems.facilities import demo_fleet
from sems.settings import Settings
from tests.ml.history import START, facilities_frame, simulated_history, small_fleet
from tests.support import wait_until


def _facilities_with_load(settings: Settings) -> set[str]:
    rows = QuestDBResource.from_settings(settings).query("SELECT DISTINCT facility_id FROM facility_load_1m")
    return {row["facility_id"] for row in rows}


def _shape(settings: Settings, **overrides: str) -> ForecastingResource:
    return ForecastingResource(horizon_hours=settings.forecast_horizon_hours,
                               step_minutes=settings.forecast_step_minutes,
                               **{"tracking_uri": settings.mlflow_url, **overrides})


def test_without_champion_every_facility_gets_the_fallback(settings: Settings, tmp_path: Path) -> None:
    steps = settings.forecast_horizon_hours * 60 // settings.forecast_step_minutes  # 96 by default
    fleet = [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]
    # The simulator -> bridge -> Beam path fills the 1-minute rollups within a few minutes of start.
    wait_until(lambda: set(fleet) <= _facilities_with_load(settings), timeout_s=240, what="load of every facility")
    shape = _shape(settings, model_name=f"no_such_model_{uuid.uuid4().hex[:8]}")
    # An analyst's profile for the next hour of the first facility overrides whatever is computed.
    profile = tmp_path / "next-hour.csv"
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    profile.write_text("ts,kw\n" + "".join(f"{hour + timedelta(minutes=15 * i):%Y-%m-%dT%H:%M:%S},7.5\n"
                                           for i in range(4)))
    forecast_buffer.write(settings, manual_forecast.profile(profile, fleet[0], timedelta(minutes=15)))

    result = materialize([weather_forecast, load_forecast, forecast_freshness],
                         resources={**resources(settings), "forecasting": shape})

    assert result.success
    metadata = result.asset_materializations_for_node("load_forecast")[0].metadata
    assert "no no_such_model" in str(metadata["fallback_reason"].value)
    assert result.get_asset_check_evaluations()[0].passed  # just issued: fresh
    assert metadata["rows_by_source"].value.get("manual") == 4  # type: ignore[union-attr]
    with PostgresResource.from_settings(settings).transaction() as conn:
        rows = conn.execute(text(
            "SELECT facility_id, count(*) AS steps, "
            "bool_and(p10 <= p50 AND p50 <= p90 AND (p10 < p90 OR source = 'manual')) AS banded, "
            "bool_and((source = 'fallback' AND model_version = :v) OR (source = 'manual' AND p50 = 7.5)) AS fallback, "
            "max(data_quality_score) FILTER (WHERE source = 'fallback') AS quality, min(ts) AS first, max(ts) AS last "
            "FROM load_forecasts WHERE generated_at = to_timestamp(:g) GROUP BY facility_id"),
            {"g": metadata["generated_at"].value, "v": FALLBACK_VERSION}).mappings().all()
    assert set(fleet) <= {r["facility_id"] for r in rows}
    for row in rows:
        assert row["steps"] == steps and row["banded"] and row["fallback"]
        assert row["quality"] <= settings.forecast_fallback_quality
        assert (row["last"] - row["first"]).total_seconds() == (steps - 1) * settings.forecast_step_minutes * 60


def test_unreachable_mlflow_falls_back_quickly(settings: Settings) -> None:
    fleet = small_fleet(2)
    load, weather = simulated_history(fleet, START, 30)
    issued_at = datetime(2025, 6, 4, tzinfo=UTC)
    shape = _shape(settings, tracking_uri=f"http://{settings.host}:1")  # nothing listens on port 1
    rows, version, why, margin = issue(load.filter(load["ts"] < issued_at), weather, facilities_frame(fleet),
                                       issued_at, shape)
    assert version == "" and "MLflow unreachable" in why and margin == ""
    assert rows.height == 96 * len(fleet) and set(rows["source"]) == {"fallback"}
    assert (rows["data_quality_score"] == settings.forecast_fallback_quality).all()  # four weeks of history
