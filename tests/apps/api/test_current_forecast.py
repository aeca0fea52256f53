"""What the read endpoints answer for the live demo fleet: current load, forecast, DR participation, 404s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sems.settings import Settings
from tests.apps.api.conftest import Get
from tests.support import wait_until


def test_current_load_is_the_newest_minute_against_contract_demand(settings: Settings, api_get: Get) -> None:
    def with_load() -> dict[str, Any] | None:
        body: dict[str, Any] = api_get("/v1/facilities/fac-001/current").json()
        return body if body["kw"] is not None else None

    body = wait_until(with_load, timeout_s=120, what="a 1-minute load total for fac-001")
    assert body is not None
    assert body["percent_of_contract"] == round(100 * body["kw"] / body["contract_demand_kw"], 1)
    assert datetime.fromisoformat(body["ts"]) <= datetime.fromisoformat(body["as_of"]) <= datetime.now(UTC)


def test_forecast_and_dr_events_have_their_documented_shape(api_get: Get) -> None:
    forecast = api_get("/v1/facilities/fac-001/forecast")
    assert forecast.status_code == 200
    steps = forecast.json()["steps"]
    assert all(s["p10"] <= s["p50"] <= s["p90"] for s in steps)
    assert [s["ts"] for s in steps] == sorted(s["ts"] for s in steps)
    events = api_get("/v1/facilities/fac-001/dr-events")
    assert events.status_code == 200 and isinstance(events.json(), list)


def test_an_unknown_facility_is_404_even_when_granted(settings: Settings, api_get: Get) -> None:
    from apps.api import dev_issuer

    granted = dev_issuer.mint(settings, ["fac-999"])
    for path in ("current", "forecast", "dr-events"):
        response = api_get(f"/v1/facilities/fac-999/{path}", bearer=granted)
        assert response.status_code == 404, response.text
