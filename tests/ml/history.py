"""Multi-week load and weather histories from the simulator's facility model, for training and backtests.

Tests may use apps (ml may not): the history is produced here and passed to ml as frames.
Load is the model's draw per quarter-hour with 3 % noise; weather is the model's own
temperature curve, so load and weather are related as in the simulated field.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from apps.simulator.facility_model import FacilityModel
from sems.facilities import Facility, demo_fleet

STEP = timedelta(minutes=15)


def facilities_frame(fleet: list[Facility]) -> pl.DataFrame:
    return pl.DataFrame([{"facility_id": f.facility_id, "country": f.country, "timezone": f.timezone,
                          "contract_demand_kw": f.contract_demand_kw, "latitude": f.latitude,
                          "longitude": f.longitude} for f in fleet])


def simulated_history(
    fleet: list[Facility], start: datetime, days: int, *, seed: int = 7, noise: float = 0.03
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(load: facility_id, ts, kw per quarter-hour; weather: facility_id, ts, temp_c, humidity_pct hourly)."""
    rng = random.Random(seed)
    load, weather = [], []
    for facility in fleet:
        model = FacilityModel(facility, rng=rng)
        for i in range(days * 96):
            at = start + i * STEP
            load.append((facility.facility_id, at, model.load_kw(at) * (1 + rng.gauss(0, noise))))
            if i % 4 == 0:
                weather.append((facility.facility_id, at, model.outdoor_temperature_c(at), 60.0))
    dt = pl.Datetime("us", "UTC")
    return (
        pl.DataFrame(load, schema={"facility_id": pl.String, "ts": dt, "kw": pl.Float64}, orient="row"),
        pl.DataFrame(weather, schema={"facility_id": pl.String, "ts": dt, "temp_c": pl.Float64,
                                      "humidity_pct": pl.Float64}, orient="row"),
    )


def small_fleet(facilities: int = 3) -> list[Facility]:
    return demo_fleet(facilities, 2)


START = datetime(2025, 5, 5, tzinfo=UTC)  # a Monday; the weeks after include US and DE public holidays
