"""The sheddable-load forecast: what a DR event could take from a facility, step by step, as the DR planner sees it.

Nothing stores it: it is computed on read from the latest load forecast by the DR plan's
own functions (`pipelines.dr.plan.capacity_kw` on each step's P10, M4), with the forecast
quality the planner would record (`pipelines.dr.store.forecasts`: model, stale, fallback or
none). So the API, the UI and a dispatch on the same forecast agree on every kW. Shared by
the read API (`GET /v1/facilities/{id}/sheddable`) and the analyst UI's facility page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from pipelines.dr import store
from pipelines.dr.plan import FacilityForecast, capacity_kw
from sems.settings import Settings


def sheddable(conn: Connection, settings: Settings, facility_id: str, steps: Sequence[dict[str, Any]],
              now: datetime | None = None) -> dict[str, Any]:
    """Per forecast step (ts, p10) the lighting, HVAC and total sheddable kW; and what a plan over them all gets.

    `steps` are the latest forecast's rows (`ts`, `p10`, `generated_at`, `source`), in time order.
    `window_kw` is the capacity the planner would use for an event spanning every step (from their
    lowest P10), or, without a forecast, from 30 % of contract demand as the planner does.
    """
    now = now or datetime.now(UTC)
    end = max((s["ts"] for s in steps), default=now) + timedelta(minutes=settings.forecast_step_minutes)
    planned = store.forecasts(conn, [facility_id], now, end, settings.dr_forecast_stale_after_s)[0]
    factor = 1.0 if planned.quality == "model" else settings.dr_conservative_factor
    rows = []
    for step in steps:
        lighting, hvac = capacity_kw(FacilityForecast(facility_id, float(step["p10"]), planned.quality, None),
                                     settings.dr_conservative_factor)
        rows.append({"ts": step["ts"], "p10_kw": float(step["p10"]), "lighting_kw": round(lighting, 3),
                     "hvac_kw": round(hvac, 3), "sheddable_kw": round(lighting + hvac, 3)})
    head = steps[0] if steps else {}
    return {
        "facility_id": facility_id, "generated_at": head.get("generated_at"), "source": head.get("source"),
        "quality": planned.quality, "factor": factor,
        "window_kw": round(sum(capacity_kw(planned, settings.dr_conservative_factor)), 3), "steps": rows,
    }
