"""The DR plan: allocation on the forecast's P10, conservative when the forecast cannot be trusted (M4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.dr.plan import FacilityForecast, capacity_kw, plan_facilities


def _forecast(facility_id: str, p10: float, quality: str = "model") -> FacilityForecast:
    return FacilityForecast(facility_id, p10, quality, datetime.now(UTC))  # type: ignore[arg-type]


def test_target_is_spread_by_capacity_lighting_first() -> None:
    plans = plan_facilities({"target_reduction_kw": 60.0}, [_forecast("a", 400.0), _forecast("b", 200.0)], 0.5)
    by_id = {p.facility_id: p for p in plans}
    assert sum(p.target_kw for p in plans) == pytest.approx(60.0)
    assert by_id["a"].target_kw == pytest.approx(2 * by_id["b"].target_kw)
    # 40 kW from a's 70 kW of dimmable lighting (35 % of P10 down to level 0.5): no HVAC change needed.
    assert by_id["a"].devices() == [("lighting_level", 0.71)]


def test_more_than_lighting_needs_hvac_and_never_exceeds_capacity() -> None:
    (plan,) = plan_facilities({"target_reduction_kw": 1000.0}, [_forecast("a", 400.0)], 0.5)
    assert plan.target_kw == pytest.approx(plan.capacity_kw) == pytest.approx(70.0 + 36.0)
    assert plan.devices() == [("lighting_level", 0.5), ("hvac_setpoint_offset_c", 3.0)]


def test_stale_fallback_and_missing_forecasts_are_planned_conservatively() -> None:
    fresh = sum(capacity_kw(_forecast("a", 400.0), 0.5))
    for quality in ("stale", "fallback", "none"):
        assert sum(capacity_kw(_forecast("a", 400.0, quality), 0.5)) == pytest.approx(fresh * 0.5)
    (plan,) = plan_facilities({"target_reduction_kw": 500.0}, [_forecast("a", 400.0, "stale")], 0.5)
    assert plan.quality == "stale" and plan.target_kw == pytest.approx(fresh * 0.5)


def test_simple_level_and_capacity_limit_forms() -> None:
    forecasts = [_forecast("a", 400.0)]
    (half,) = plan_facilities({"simple_level": 2}, forecasts, 0.5)
    assert half.target_kw == pytest.approx(106.0 * 2 / 3, abs=1e-3)
    (limited,) = plan_facilities({"capacity_limit_kw": 350.0}, forecasts, 0.5)
    assert limited.target_kw == pytest.approx(50.0)  # P10 400 kW above a 350 kW import limit
    (nothing,) = plan_facilities({"simple_level": 0}, forecasts, 0.5)
    assert nothing.devices() == []
