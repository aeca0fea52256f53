"""The simulated load: plausible shapes (office hours, weekends, heat) and controls a BMS can change."""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apps.simulator.facility_model import FacilityControls, FacilityModel
from apps.simulator.meters import MeterRegister
from sems.facilities import Facility, demo_fleet
from sems.weather.replay import STATIONS, ReplayProvider
from streaming.contract import Contract

FACILITY = demo_fleet(1, 4)[0]  # Harbor Logistics Center, America/New_York, US holidays
NEW_YORK = ZoneInfo(FACILITY.timezone)


def at(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=NEW_YORK)


def test_working_day_peaks_in_office_hours_and_weekends_stay_low() -> None:
    model = FacilityModel(FACILITY)
    wednesday_noon, wednesday_3am = at(2025, 10, 8, 12), at(2025, 10, 8, 3)
    saturday_noon = at(2025, 10, 11, 12)
    assert model.load_kw(wednesday_noon) > 1.3 * model.load_kw(wednesday_3am)
    assert model.load_kw(saturday_noon) < 0.8 * model.load_kw(wednesday_noon)
    assert model.occupancy(at(2025, 12, 25, 12)) == model.occupancy(saturday_noon)  # Christmas: a holiday


def test_load_stays_within_the_contract_demand_all_year() -> None:
    model = FacilityModel(FACILITY)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    loads = [model.load_kw(start + timedelta(hours=h)) for h in range(0, 365 * 24, 5)]
    assert 0.25 * FACILITY.contract_demand_kw < min(loads)
    assert max(loads) < 1.1 * FACILITY.contract_demand_kw


def test_summer_afternoons_draw_more_than_spring_ones_because_of_cooling() -> None:
    model = FacilityModel(FACILITY)
    july = [at(2025, 7, day, 15) for day in range(1, 32) if at(2025, 7, day, 15).weekday() < 5 and day != 4]
    april = [at(2025, 4, day, 15) for day in range(1, 31) if at(2025, 4, day, 15).weekday() < 5]
    assert statistics.fmean(map(model.outdoor_temperature_c, july)) > 25 > statistics.fmean(
        map(model.outdoor_temperature_c, april))
    assert statistics.fmean(map(model.load_kw, july)) > 1.1 * statistics.fmean(map(model.load_kw, april))


def test_temperature_is_the_weather_replay_that_training_reads_at_every_full_hour() -> None:
    model, start = FacilityModel(FACILITY), datetime(2024, 2, 27, tzinfo=UTC)  # across 29 February
    replay = ReplayProvider().between(FACILITY.latitude, FACILITY.longitude, start, start + timedelta(days=4))
    assert len(replay) == 96
    for row in replay.iter_rows(named=True):
        assert model.outdoor_temperature_c(row["ts"]) == row["temp_c"]
    half_past = model.outdoor_temperature_c(start + timedelta(minutes=30))
    hour_0, hour_1 = replay["temp_c"][0], replay["temp_c"][1]
    assert min(hour_0, hour_1) <= half_past <= max(hour_0, hour_1)  # interpolated, no step once an hour


def test_each_demo_facility_gets_the_nearest_of_the_three_pvlib_climates() -> None:
    stations = {f.facility_id: FacilityModel(f).station for f in demo_fleet(8, 1)}
    assert set(stations.values()) <= set(STATIONS)
    assert stations["fac-001"] == "greensboro" and stations["fac-006"] == "sand_point"
    miami = Facility("x", "Bayfront", "US", "America/New_York", 25.76, -80.19, 500.0, ("x-m01",))
    assert FacilityModel(miami).station == "miami"
    alaska = replace(miami, latitude=57.0, longitude=-160.0)

    def mean_load(facility: Facility, month: int) -> float:
        model, start = FacilityModel(facility), datetime(2025, month, 1, tzinfo=UTC)
        return statistics.fmean(model.load_kw(start + timedelta(hours=h)) for h in range(0, 28 * 24, 3))

    assert mean_load(miami, 7) > 1.1 * mean_load(alaska, 7)  # cooling in the hot climate
    assert mean_load(alaska, 1) > 1.1 * mean_load(miami, 1)  # heating in the cold one


def test_a_setpoint_offset_sheds_heating_in_winter_as_well_as_cooling_in_summer() -> None:
    winter_night, summer_afternoon = at(2025, 1, 15, 3), at(2025, 7, 16, 15)
    relaxed = FacilityModel(FACILITY, FacilityControls(hvac_setpoint_offset_c=3.0))
    for instant in (winter_night, summer_afternoon):
        assert FacilityModel(FACILITY).outdoor_temperature_c(instant) not in (16.0, 22.0)
        assert relaxed.load_kw(instant) < FacilityModel(FACILITY).load_kw(instant)


def test_bms_controls_shed_load_on_the_next_reading() -> None:
    model = FacilityModel(FACILITY)
    july = at(2025, 7, 16, 15)
    before = model.load_kw(july)
    model.controls = FacilityControls(hvac_setpoint_offset_c=3.0, lighting_level=0.5)
    assert model.load_kw(july) < 0.85 * before


def test_meter_shares_add_up_and_noise_is_small() -> None:
    model = FacilityModel(FACILITY, rng=random.Random(1))
    noon = at(2025, 10, 8, 12)
    assert abs(sum(model.shares.values()) - 1) < 1e-9
    total = sum(model.meter_kw(m, noon) for m in FACILITY.meter_ids)
    assert abs(total - model.load_kw(noon)) < 0.1 * model.load_kw(noon)


def test_register_integrates_energy_and_numbers_readings() -> None:
    register = MeterRegister.fresh("fac-001-m01")
    start = register.kwh
    first = register.read(1_764_380_000_000, 100.0)
    second = register.read(1_764_380_000_000 + 15 * 60_000, 100.0)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["kwh"] == round(start, 3)
    assert abs(second["kwh"] - (start + 25.0)) < 1e-6  # 100 kW for a quarter hour
    assert MeterRegister.fresh("fac-001-m01").kwh == start  # stable across restarts


def test_simulated_payloads_satisfy_the_mqtt_contract() -> None:
    contract = Contract("sems/v1", -1e4, 1e5, 3_600_000, 30 * 86_400_000, 4096, 100)
    model, register = FacilityModel(FACILITY), MeterRegister.fresh("fac-001-m02")
    now = datetime.now(UTC)
    payload = register.read(int(now.timestamp() * 1000), model.meter_kw("fac-001-m02", now))
    parsed = contract.parse(
        "sems/v1/readings/fac-001/fac-001-m02", json.dumps(payload).encode(), now_ms=int(now.timestamp() * 1000)
    )
    assert parsed.rejections == [] and parsed.readings is not None and parsed.readings.seq == [1]
