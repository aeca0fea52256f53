"""The DR plan: how much each facility sheds and with which devices, from the forecast's lower bound (M4).

Sheddable load per facility is estimated from the forecast P10 over the event window (the
load we are nearly sure to see), so a wide forecast band never makes us promise, or shed,
more than the building can give. If the forecast is stale (older than
`dr_forecast_stale_after_s`), a fallback, or missing (then 30 % of contract demand, the
always-on base), the capacity is cut by `dr_conservative_factor` and the quality recorded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

Quality = Literal["model", "stale", "fallback", "none"]

LIGHTING_SHARE = 0.35  # of the load: lighting and plug loads at full occupancy (the facility model's share)
MIN_LIGHTING_LEVEL = 0.5
HVAC_SHARE_PER_C = 0.03  # of the load per degree of setpoint relaxation
MAX_HVAC_OFFSET_C = 3.0
BASE_SHARE = 0.30  # without a forecast: the always-on base load of the contract demand


@dataclass(frozen=True)
class FacilityForecast:
    facility_id: str
    p10_kw: float  # lowest P10 over the event window
    quality: Quality
    generated_at: datetime | None


@dataclass(frozen=True)
class FacilityPlan:
    facility_id: str
    target_kw: float
    capacity_kw: float
    lighting_level: float  # 1.0 = unchanged
    hvac_offset_c: float  # 0.0 = unchanged
    quality: Quality
    p10_kw: float

    def devices(self) -> list[tuple[str, float]]:
        """(point, value) of each device the plan changes, in command order."""
        changes = [("lighting_level", self.lighting_level), ("hvac_setpoint_offset_c", self.hvac_offset_c)]
        return [(p, v) for p, v in changes if v != (1.0 if p == "lighting_level" else 0.0)]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def capacity_kw(forecast: FacilityForecast, conservative_factor: float) -> tuple[float, float]:
    """(lighting, HVAC) sheddable kW; cut by `conservative_factor` when the forecast is not trustworthy."""
    factor = 1.0 if forecast.quality == "model" else conservative_factor
    lighting = (1 - MIN_LIGHTING_LEVEL) * LIGHTING_SHARE * forecast.p10_kw * factor
    hvac = MAX_HVAC_OFFSET_C * HVAC_SHARE_PER_C * forecast.p10_kw * factor
    return lighting, hvac


def targets_kw(request: dict[str, Any], capacities: dict[str, float], p10: dict[str, float]) -> dict[str, float]:
    """Each facility's share: the total spread by capacity, a SIMPLE level (0-3) of capacity, or P10 above a limit."""
    if request.get("target_reduction_kw"):
        total_capacity = sum(capacities.values()) or 1.0
        share = request["target_reduction_kw"] / total_capacity
        return {f: min(c, c * share) for f, c in capacities.items()}
    if request.get("simple_level") is not None:
        return {f: c * min(3, request["simple_level"]) / 3 for f, c in capacities.items()}
    limit = request.get("capacity_limit_kw") or 0.0
    return {f: min(c, max(0.0, p10[f] - limit)) for f, c in capacities.items()}


def plan_facilities(request: dict[str, Any], forecasts: list[FacilityForecast],
                    conservative_factor: float) -> list[FacilityPlan]:
    """The plan of every facility: lighting first (fastest to restore), then HVAC for the rest."""
    caps = {f.facility_id: capacity_kw(f, conservative_factor) for f in forecasts}
    targets = targets_kw(request, {f: sum(c) for f, c in caps.items()}, {f.facility_id: f.p10_kw for f in forecasts})
    plans = []
    for forecast in forecasts:
        lighting_cap, hvac_cap = caps[forecast.facility_id]
        target = targets[forecast.facility_id]
        from_lighting = min(target, lighting_cap)
        level = 1.0 - from_lighting / (LIGHTING_SHARE * forecast.p10_kw) if forecast.p10_kw > 0 else 1.0
        rest = max(0.0, target - from_lighting)
        offset = rest / (HVAC_SHARE_PER_C * forecast.p10_kw) if forecast.p10_kw > 0 and rest > 0 else 0.0
        plans.append(FacilityPlan(
            facility_id=forecast.facility_id, target_kw=round(target, 3), capacity_kw=round(lighting_cap + hvac_cap, 3),
            lighting_level=max(MIN_LIGHTING_LEVEL, math.floor(level * 100) / 100),
            hvac_offset_c=min(MAX_HVAC_OFFSET_C, math.ceil(offset * 2) / 2), quality=forecast.quality,
            p10_kw=round(forecast.p10_kw, 3),
        ))
    return plans
