"""The simulated facility: how much power it draws at an instant, and the controls a BMS can change.

Load = base (always on) + occupancy (lighting and plug loads: working days in office hours,
local time; weekends and the country's public holidays via `holidays` stay low) + HVAC
(cooling above and heating below a comfort band, driven by the real typical-year weather
pvlib ships, `apps/simulator/weather.py`) + noise per meter. Everything scales with the
facility's contract demand, so a hospital and a retail park differ in size.

Public API (the meter simulator, the SOAP BMSs and the forecasting tests' history use it):

- `FacilityModel(facility, controls=FacilityControls(), rng=random.Random())`
- `.load_kw(at)`: the facility's total draw at an aware datetime, noise-free and
  deterministic for given controls (tests compute expectations with it).
- `.meter_kw(meter_id, at)`: one meter's share of `load_kw(at)` with relative Gaussian
  noise `NOISE` from `rng`.
- `.outdoor_temperature_c(at)`: the TMY temperature of `.station` (the pvlib station
  nearest the facility, as the forecasting weather replay picks it).
- `.occupancy(at)`: 0..1; `.shares`: each meter's fixed share of the load; `.zone`.
- `.controls`: a `FacilityControls` the BMS writes and every call reads, so a command shows
  in the next reading. `hvac_setpoint_offset_c` relaxes the comfort band by that many
  degrees on both sides (cooling setpoint up, heating setpoint down: a DR setback works in
  summer and winter); `lighting_level` scales the lighting and plug loads.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from apps.simulator.weather import station_for, temperature_c
from sems.facilities import Facility

BASE_SHARE = 0.30  # of contract demand, always on (servers, refrigeration, standby)
OCCUPANCY_SHARE = 0.35  # lighting and plug loads at full occupancy
HVAC_KW_PER_DEGREE = 0.018  # of contract demand per degree C outside the comfort band
COMFORT_BAND_C = (16.0, 22.0)
NOISE = 0.03  # relative standard deviation per meter reading


@dataclass
class FacilityControls:
    """What the BMS can set: HVAC comfort-band relaxation in degrees C (-5..5) and lighting level (0..1)."""

    hvac_setpoint_offset_c: float = 0.0
    lighting_level: float = 1.0


@dataclass
class FacilityModel:
    """The power draw of one facility and of each of its meters."""

    facility: Facility
    controls: FacilityControls = field(default_factory=FacilityControls)
    rng: random.Random = field(default_factory=random.Random)

    def outdoor_temperature_c(self, at: datetime) -> float:
        """The outdoor temperature at `at`: the typical year of the nearest pvlib TMY station."""
        return temperature_c(self.station, at)

    def occupancy(self, at: datetime) -> float:
        """0..1: people in the building (ramps 6-8 and 18-20 on working days, 15 % otherwise)."""
        local = at.astimezone(self.zone)
        if local.weekday() >= 5 or _is_holiday(self.facility.country, local.date()):
            return 0.15
        hour = local.hour + local.minute / 60
        return max(0.1, min(1.0, (hour - 6) / 2, (20 - hour) / 2))

    def load_kw(self, at: datetime) -> float:
        """The facility's total draw at `at` (no noise)."""
        contract = self.facility.contract_demand_kw
        occupancy = self.occupancy(at)
        low, high = COMFORT_BAND_C
        low -= self.controls.hvac_setpoint_offset_c
        high += self.controls.hvac_setpoint_offset_c
        temperature = self.outdoor_temperature_c(at)
        degrees = max(0.0, temperature - high) + 0.5 * max(0.0, low - temperature)
        hvac = HVAC_KW_PER_DEGREE * contract * degrees * (0.4 + 0.6 * occupancy)
        lighting = OCCUPANCY_SHARE * contract * occupancy * self.controls.lighting_level
        return BASE_SHARE * contract + lighting + hvac

    def meter_kw(self, meter_id: str, at: datetime) -> float:
        """One meter's share of the load, with measurement noise."""
        share = self.shares[meter_id]
        return max(0.0, share * self.load_kw(at) * (1 + self.rng.gauss(0, NOISE)))

    @property
    def station(self) -> str:
        """The pvlib TMY station whose weather drives this facility's HVAC (miami, greensboro, sand_point)."""
        return station_for(self.facility.latitude, self.facility.longitude)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.facility.timezone)

    @property
    def shares(self) -> dict[str, float]:
        """Stable, unequal shares of the load per meter (a main feeder and smaller sub-meters)."""
        return _shares(self.facility.meter_ids)


@lru_cache(maxsize=256)
def _shares(meter_ids: tuple[str, ...]) -> dict[str, float]:
    weights = {m: 1 + (zlib.crc32(m.encode()) % 100) / 50 for m in meter_ids}
    total = sum(weights.values())
    return {m: w / total for m, w in weights.items()}


@lru_cache(maxsize=64)
def _country_holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def _is_holiday(country: str, day: date) -> bool:
    return day in _country_holidays(country)
