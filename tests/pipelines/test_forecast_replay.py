"""C1 end to end: `load_forecast` with PostgreSQL stopped buffers in Kafka; the sensor's tick replays, exactly once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from dagster import SensorResult, SkipReason, materialize
from sqlalchemy import text

from assets.forecasts import load_forecast
from assets.weather import weather_forecast
from pipelines.forecast_replay import replay_tick
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource, resources
from sems import forecast_buffer
from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stack import controller
from sems.stores import kafka
from tests.support import wait_until


def _facilities_with_load(settings: Settings) -> set[str]:
    rows = QuestDBResource.from_settings(settings).query("SELECT DISTINCT facility_id FROM facility_load_1m")
    return {row["facility_id"] for row in rows}


def test_forecasts_issued_while_postgres_is_down_are_replayed_by_a_sensor_tick(settings: Settings) -> None:
    kafka.ensure_topics(settings)
    fleet = {f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)}
    wait_until(lambda: fleet <= _facilities_with_load(settings), timeout_s=240, what="load of every facility")
    # A replay group of this test alone: the daemon's sensor (if a daemon runs) may replay too; the PK keeps it once.
    mine = settings.model_copy(update={"forecast_buffer_group": f"test-replay-{uuid.uuid4().hex[:8]}"})
    forecast_buffer.replay(mine)  # what earlier runs buffered is behind this group now
    shape = ForecastingResource(horizon_hours=settings.forecast_horizon_hours,
                                step_minutes=settings.forecast_step_minutes, tracking_uri=settings.mlflow_url,
                                model_name=f"no_such_model_{uuid.uuid4().hex[:8]}")

    controller.down(settings, ["postgres"], report=lambda _: None)
    try:
        result = materialize([weather_forecast, load_forecast], resources={**resources(settings), "forecasting": shape})
        assert result.success
        materialized = result.asset_materializations_for_node("load_forecast")[0]
        meta: dict[str, Any] = {k: v.value for k, v in materialized.metadata.items()}
        assert meta["stored"] == 0 and meta["buffered_in_kafka"] == meta["rows"] >= 96 * len(fleet)
        assert str(meta["fleet_source"]).startswith("PostgreSQL unavailable, configured fleet used")
        # (>=: a scheduled run of a daemon, if one runs, may buffer its forecasts during the outage as well)
        assert forecast_buffer.pending(mine) >= meta["rows"]
        replayed_before = forecast_buffer.replayed_offsets(mine)
        waiting = replay_tick(mine, None)
        assert isinstance(waiting, SkipReason) and "PostgreSQL refuses writes" in str(waiting.skip_message)
        # Nothing consumed while PostgreSQL refused: the group's positions did not move. (Not `pending`
        # unchanged: a daemon's scheduled forecast run may buffer more in between, as it did once in CI.)
        assert forecast_buffer.replayed_offsets(mine) == replayed_before
    finally:
        controller.up(settings, ["postgres"], report=lambda _: None)

    tick = replay_tick(mine, json.dumps({"replayed_total": 5}))
    assert isinstance(tick, SensorResult) and tick.cursor
    assert json.loads(tick.cursor)["replayed_total"] >= 5 + meta["rows"]
    with PostgresResource.from_settings(settings).transaction() as conn:
        stored = conn.execute(text(
            "SELECT count(*) AS rows, count(DISTINCT (facility_id, ts)) AS steps, "
            "count(DISTINCT facility_id) AS facilities FROM load_forecasts WHERE generated_at = to_timestamp(:g)"),
            {"g": meta["generated_at"]}).mappings().one()
    assert stored["rows"] == stored["steps"] == meta["rows"] and stored["facilities"] == len(fleet)
    quiet = replay_tick(mine, tick.cursor)
    assert isinstance(quiet, SkipReason) and quiet.skip_message == "the forecast buffer is empty"
