"""`training_set` -> `load_forecaster` in Dagster against the real QuestDB and MLflow, then the model forecast."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dagster import materialize

from assets.forecasts import load_forecast
from assets.training import CHECK, load_forecaster, training_set
from assets.weather import weather_forecast
from pipelines.resources import ForecastingResource, resources
from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stores import questdb
from tests.ml.history import START, simulated_history

DAYS, TRAIN_DAYS, ROUNDS = 38, 34, 20


def _run_config() -> dict[str, object]:
    until = (START + timedelta(days=DAYS)).isoformat()
    return {"ops": {"training_set": {"config": {"days": DAYS, "until": until}},
                    "load_forecaster": {"config": {"train_days": TRAIN_DAYS, "rounds": ROUNDS}}}}


def test_forecaster_is_gated_then_forecasts_as_champion(settings: Settings) -> None:
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)[:3]
    load, _ = simulated_history(fleet, START, DAYS)
    # Past quarter-hours in the rollup table (the live stream writes today, these are 2025).
    questdb.write_frame(settings, "facility_load_1m", load.rename({"kw": "kw_avg"}))
    name = f"load_forecaster_test_{uuid.uuid4().hex[:8]}"
    shape = ForecastingResource(horizon_hours=settings.forecast_horizon_hours,
                                step_minutes=settings.forecast_step_minutes,
                                tracking_uri=settings.mlflow_url, model_name=name)
    res = {**resources(settings), "forecasting": shape}

    first = materialize([training_set, load_forecaster], resources=res, run_config=_run_config())
    assert first.success
    check = first.get_asset_check_evaluations()[0]
    assert check.check_name == CHECK and check.passed
    assert "promoted" in str(check.metadata["reason"].value)

    # The same data again: equal is not better, so the blocking check fails and says why.
    second = materialize([training_set, load_forecaster], resources=res, run_config=_run_config(),
                         raise_on_error=False)
    check = second.get_asset_check_evaluations()[0]
    assert not check.passed and "does not beat" in str(check.metadata["reason"].value)

    # The champion now issues the forecasts of the facilities it has weather for.
    live = materialize([weather_forecast, load_forecast], resources=res)
    assert live.success
    metadata = live.asset_materializations_for_node("load_forecast")[0].metadata
    assert metadata["model_version"].value == f"{name}/1"
    by_source = metadata["rows_by_source"].value
    assert isinstance(by_source, dict) and by_source.get("model", 0) >= 96 * len(fleet)
    assert metadata["buffered_in_kafka"].value == 0 and metadata["stored"].value == metadata["rows"].value
