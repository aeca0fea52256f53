"""`GET /v1/facilities/{id}/sheddable`: the DR planner's capacity on each step of the latest forecast, scoped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from apps.api import dev_issuer
from pipelines.dr.plan import FacilityForecast, capacity_kw
from sems import forecast_buffer
from sems.manual_forecast import profile
from sems.settings import Settings
from sems.stores import postgres
from tests.apps.api.conftest import Get
from tests.support import wait_until


@pytest.fixture
def manual_forecast(settings: Settings, fleet_ids: list[str], tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """A fresh manual profile (the facility's latest forecast now) three days ahead, removed afterwards.

    Three days ahead keeps it outside the 24 h horizon that `load_forecast` merges manual steps into.
    """
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    lines = ["ts,kw,p10,p90"] + [f"{(start + timedelta(minutes=15 * i)).isoformat()},{150 + 7 * i},{120 + 5 * i},"
                                 f"{190 + 9 * i}" for i in range(8)]
    path = tmp_path / "sheddable-test.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = profile(path, fleet_ids[-1], timedelta(minutes=settings.forecast_step_minutes))
    assert forecast_buffer.write(settings, rows).stored == len(rows)
    try:
        yield rows
    finally:
        db = postgres.engine(settings)
        with db.begin() as conn:
            conn.execute(text("DELETE FROM load_forecasts WHERE facility_id = :f AND generated_at = :g"),
                         {"f": rows[0]["facility_id"], "g": rows[0]["generated_at"]})
        db.dispose()


def test_sheddable_load_is_the_dr_planners_capacity_on_each_forecast_step(
    settings: Settings, api_get: Get, manual_forecast: list[dict[str, Any]]
) -> None:
    facility_id, issued = manual_forecast[0]["facility_id"], manual_forecast[0]["generated_at"]

    def computed_from_it() -> dict[str, Any] | None:
        body: dict[str, Any] = api_get(f"/v1/facilities/{facility_id}/sheddable").json()
        return body if body["generated_at"] and datetime.fromisoformat(body["generated_at"]) == issued else None

    body = wait_until(computed_from_it, timeout_s=30, what="the sheddable forecast of the new profile (cache expiry)")
    assert body is not None
    assert (body["source"], body["quality"], body["factor"]) == ("manual", "model", 1.0)  # fresh, not a fallback
    assert [s["p10_kw"] for s in body["steps"]] == [r["p10"] for r in manual_forecast]
    for step in body["steps"]:
        lighting, hvac = capacity_kw(FacilityForecast(facility_id, step["p10_kw"], "model", None), 1.0)
        assert (step["lighting_kw"], step["hvac_kw"]) == (round(lighting, 3), round(hvac, 3))
        assert 0 < step["sheddable_kw"] < step["p10_kw"]  # never more than the load it is shed from
    lowest = min(r["p10"] for r in manual_forecast)  # a plan over the whole horizon counts on the lowest P10 (M4)
    assert body["window_kw"] == round(sum(capacity_kw(FacilityForecast(facility_id, lowest, "model", None), 1.0)), 3)


def test_sheddable_is_scoped_like_every_facility_read(settings: Settings, api_get: Get, fleet_ids: list[str]) -> None:
    other = dev_issuer.mint(settings, [fleet_ids[0]])
    forbidden = api_get(f"/v1/facilities/{fleet_ids[-1]}/sheddable", bearer=other)
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"
    unknown = api_get("/v1/facilities/fac-999/sheddable", bearer=dev_issuer.mint(settings, ["fac-999"]))
    assert unknown.status_code == 404
