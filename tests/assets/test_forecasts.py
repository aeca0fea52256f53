"""`load_forecast` materialised with the real resources against the running test stack."""

from __future__ import annotations

from dagster import materialize
from sqlalchemy import text

from assets.forecasts import load_forecast
from pipelines.resources import PostgresResource, QuestDBResource, resources
from sems.facilities import demo_fleet
from sems.settings import Settings
from tests.support import wait_until


def _facilities_with_load(settings: Settings) -> set[str]:
    rows = QuestDBResource.from_settings(settings).query("SELECT DISTINCT facility_id FROM facility_load_1m")
    return {row["facility_id"] for row in rows}


def test_load_forecast_writes_a_day_of_quarter_hours_per_facility(settings: Settings) -> None:
    steps = settings.forecast_horizon_hours * 60 // settings.forecast_step_minutes  # 96 by default
    fleet = [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]
    # The simulator -> bridge -> Beam path fills the 1-minute rollups within a few minutes of start.
    wait_until(lambda: set(fleet) <= _facilities_with_load(settings), timeout_s=240, what="load of every facility")

    result = materialize([load_forecast], resources=resources(settings))

    assert result.success
    metadata = result.asset_materializations_for_node("load_forecast")[0].metadata
    generated_at = metadata["generated_at"].value
    rows_written = metadata["rows"].value
    assert isinstance(rows_written, int) and rows_written >= steps * len(fleet)
    with PostgresResource.from_settings(settings).transaction() as conn:
        rows = conn.execute(
            text(
                "SELECT facility_id, count(*) AS steps, bool_and(p10 <= p50 AND p50 <= p90) AS ordered, "
                "count(DISTINCT source) FILTER (WHERE source IN ('model', 'fallback')) AS sources, "
                "min(ts) AS first, max(ts) AS last, bool_and(model_version = 'seasonal-naive-v1') AS versioned "
                "FROM load_forecasts WHERE generated_at = to_timestamp(:generated_at) GROUP BY facility_id"
            ),
            {"generated_at": generated_at},
        ).mappings().all()
    assert set(fleet) <= {r["facility_id"] for r in rows}
    for row in rows:
        assert row["steps"] == steps
        assert row["ordered"] and row["versioned"]
        assert row["sources"] >= 1
        assert (row["last"] - row["first"]).total_seconds() == (steps - 1) * settings.forecast_step_minutes * 60
