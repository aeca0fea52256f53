"""The live band recalibrates: model forecasts keep their margin, and the next run's margin comes from their scores.

Real PostgreSQL, QuestDB and MLflow of the test stack, facilities of this test only: a
champion trained before the last five days issues each of them day-ahead (through
`assets.forecasts.issue`, as `load_forecast` does, 10 minutes before the day), the meters
report those days, and a `load_forecast` run now uses the margin their scores give.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import mlflow.xgboost
import numpy as np
import polars as pl
import pytest
from dagster import materialize
from mlflow import MlflowClient
from sqlalchemy import text

from assets.forecast_scoring import day_ahead, recent_scores
from assets.forecaster import ALIAS, register
from assets.forecasts import issue, load_forecast
from assets.weather import weather_forecast
from ml import backtest, features
from ml.conformal import WINDOW_DAYS, conformal_quantile
from ml.quantile import QuantileModel
from pipelines.resources import ForecastingResource, PostgresResource, QuestDBResource, resources
from sems import forecast_buffer
from sems.facilities import Facility
from sems.settings import Settings
from sems.stores.questdb import write_frame
from tests.ml.history import facilities_frame, simulated_history, small_fleet
from tests.support import wait_until

SCORED_DAYS = WINDOW_DAYS + 2  # more than the margin reads: only the latest count


@pytest.fixture
def fleet(settings: Settings) -> Iterator[list[Facility]]:
    """Two facilities of this test only (the FK of load_forecasts holds; nobody else forecasts them)."""
    tag = uuid.uuid4().hex[:6]
    own = [dataclasses.replace(f, facility_id=f"margin-{tag}-{i}") for i, f in enumerate(small_fleet(2))]
    db = PostgresResource.from_settings(settings)
    with db.transaction() as conn:
        conn.execute(text("INSERT INTO facilities (facility_id, name, country, timezone, latitude, longitude, "
                          "contract_demand_kw) VALUES (:facility_id, :name, :country, :timezone, :latitude, "
                          ":longitude, :contract_demand_kw)"),
                     [{k: v for k, v in dataclasses.asdict(f).items() if k != "meter_ids"} for f in own])
    yield own
    ids = [f.facility_id for f in own]
    with db.transaction() as conn:
        conn.execute(text("DELETE FROM load_forecasts WHERE facility_id = ANY(:f)"), {"f": ids})
        conn.execute(text("DELETE FROM facilities WHERE facility_id = ANY(:f)"), {"f": ids})


def _champion(settings: Settings, load: pl.DataFrame, weather: pl.DataFrame, facilities: pl.DataFrame) -> str:
    """A fresh registered model whose champion was trained on the history before the scored days."""
    name = f"load_forecaster_margin_{uuid.uuid4().hex[:8]}"
    result = backtest.run(load, weather, facilities, train_days=35, rounds=30)
    outcome = register(settings.mlflow_url, result, train_days=35, rounds=30, model_name=name)
    MlflowClient(settings.mlflow_url).set_registered_model_alias(name, ALIAS, outcome.version)  # gate not tested here
    return name


def _rollups(settings: Settings, table: str, load: pl.DataFrame) -> None:
    write_frame(settings, table, load.rename({"kw": "kw_avg"}))
    ids = "', '".join(load["facility_id"].unique())
    questdb = QuestDBResource.from_settings(settings)
    wait_until(lambda: questdb.query(f"SELECT count() AS n FROM {table} WHERE facility_id IN ('{ids}')")[0]["n"]
               >= load.height, timeout_s=60, what=f"{table} rows visible")


def _expected_margin(stored: pl.DataFrame, model: QuantileModel, load: pl.DataFrame, weather: pl.DataFrame,
                     facilities: pl.DataFrame) -> tuple[float, int]:
    """From the raw band (margin 0) of the latest stored day-ahead days, public holidays left out: (margin, days)."""
    rows = features.build(stored.select("facility_id", "ts"), load, weather, facilities).filter(
        pl.col("is_holiday") == 0).join(load.rename({"kw": "metered"}), on=["facility_id", "ts"])
    latest = rows["ts"].dt.date().unique().sort().tail(WINDOW_DAYS)
    rows = rows.filter(pl.col("ts").dt.date().is_in(latest.implode()))
    band = model.normalised(rows, margin=0.0)
    y = (rows["metered"] / rows["contract_demand_kw"]).to_numpy()
    return conformal_quantile(np.maximum(band[:, 0] - y, y - band[:, 2])), rows["ts"].dt.date().n_unique()


def test_stored_margins_let_the_next_run_recalibrate(settings: Settings, fleet: list[Facility]) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_scored = today - timedelta(days=SCORED_DAYS)
    load, weather = simulated_history(fleet, first_scored - timedelta(days=40), 40 + SCORED_DAYS + 2)
    facilities = facilities_frame(fleet)
    name = _champion(settings, load.filter(pl.col("ts") < first_scored), weather, facilities)
    shape = ForecastingResource(horizon_hours=24, step_minutes=15, tracking_uri=settings.mlflow_url, model_name=name)
    db, qdb = PostgresResource.from_settings(settings), QuestDBResource.from_settings(settings)

    for day in range(SCORED_DAYS):  # each day's forecast, issued 10 minutes before it, nothing scored yet
        at = first_scored + timedelta(days=day) - timedelta(minutes=10)
        rows, version, _, note = issue(load.filter(pl.col("ts") < at), weather, facilities, at, shape,
                                       recent_scores(db, qdb, at))
        assert note.startswith(f"stored cqr_margin of {version}") and set(rows["source"]) == {"model"}
        forecast_buffer.write(settings, rows.with_columns(generated_at=pl.lit(at)).to_dicts())
    ids = [f.facility_id for f in fleet]
    stored = day_ahead(db, first_scored, SCORED_DAYS, ids)
    champion = QuantileModel(mlflow.xgboost.load_model(f"models:/{name}@{ALIAS}"))
    assert stored.height == SCORED_DAYS * 95 * len(fleet)  # issued at 23:50: steps 23:45 (day before) .. 23:30
    assert (stored["band_margin"] == champion.margin).all() and stored["raw_p10"].null_count() == 0  # per row
    _rollups(settings, "facility_load_15m", load.filter(pl.col("ts").is_between(first_scored, today, closed="left")))
    _rollups(settings, "facility_load_1m", load.filter(pl.col("ts").is_between(today - timedelta(days=30),
                                                                               datetime.now(UTC), closed="left")))

    result = materialize([weather_forecast, load_forecast], resources={**resources(settings), "forecasting": shape})

    assert result.success
    metadata = result.asset_materializations_for_node("load_forecast")[0].metadata
    margin, days = _expected_margin(stored, champion, load, weather, facilities)
    assert metadata["band_margin_source"].value == f"rolling: {days} scored days of {name}/1"
    assert metadata["band_margin"].value == pytest.approx(margin, abs=1e-6)
    assert margin != pytest.approx(champion.margin, abs=1e-6)  # it did move away from the trained margin
    with db.transaction() as conn:
        issued = conn.execute(text(
            "SELECT DISTINCT band_margin FROM load_forecasts WHERE generated_at = to_timestamp(:g) "
            "AND facility_id = ANY(:f)"), {"g": metadata["generated_at"].value, "f": ids}).scalars().all()
    assert issued == [pytest.approx(margin, abs=1e-6)]
