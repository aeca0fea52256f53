"""The simulated load: plausible shapes (office hours, weekends, heat) and controls a BMS can change."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apps.simulator.facility_model import FacilityControls, FacilityModel
from apps.simulator.meters import MeterRegister
from sems.facilities import demo_fleet
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


def test_summer_afternoons_draw_more_than_mild_spring_ones_because_of_cooling() -> None:
    model = FacilityModel(FACILITY)
    july, april = at(2025, 7, 16, 15), at(2025, 4, 16, 15)  # both Wednesdays
    assert model.outdoor_temperature_c(july) > 25 > model.outdoor_temperature_c(april)
    assert model.load_kw(july) > 1.1 * model.load_kw(april)


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
    assert parsed.rejections == [] and parsed.readings[0].seq == 1
