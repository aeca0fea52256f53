"""The facilities read API: list, current load, latest forecast, sheddable load and DR participation, token-scoped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel

from apps.api.auth import CurrentPrincipal
from apps.api.cache import Cached
from apps.api.deps import CacheDep, ReadModelDep
from apps.api.problems import READ_PROBLEMS
from apps.api.readmodel import FACILITY_ID, StoreUnavailable

router = APIRouter(prefix="/v1", tags=["facilities"], responses=READ_PROBLEMS)
FacilityId = Annotated[str, Path(pattern=FACILITY_ID, description="facility id, e.g. fac-001")]


class Facility(BaseModel):
    facility_id: str
    name: str
    contract_demand_kw: float
    timezone: str
    country: str
    meter_count: int


class CurrentLoad(BaseModel):
    facility_id: str
    name: str
    contract_demand_kw: float
    kw: float | None  # None: no reading yet
    ts: datetime | None  # start of the newest 1-minute total
    percent_of_contract: float | None
    as_of: datetime  # when the API read it (the `age` header says how long it has been cached)


class ForecastStep(BaseModel):
    ts: datetime
    p10: float
    p50: float
    p90: float


class Forecast(BaseModel):
    facility_id: str
    generated_at: datetime | None
    model_version: str | None
    source: str | None
    steps: list[ForecastStep]


class SheddableStep(BaseModel):
    ts: datetime
    p10_kw: float  # the forecast's lower bound the planner sheds from (M4)
    lighting_kw: float
    hvac_kw: float
    sheddable_kw: float


class Sheddable(BaseModel):
    facility_id: str
    generated_at: datetime | None  # of the forecast it is computed from
    source: str | None
    quality: Literal["model", "stale", "fallback", "none"]  # as the DR plan would record it
    factor: float  # share of the P10-based capacity promised (below 1 when the forecast is not trusted)
    window_kw: float  # what a DR plan over the whole horizon would count on (lowest P10; 30 % of contract without)
    steps: list[SheddableStep]


class FacilityDrEvent(BaseModel):
    event_id: str
    utility_id: str
    status: str
    starts_at: datetime
    ends_at: datetime
    state: str  # this facility's saga state
    target_reduction_kw: float | None
    achieved_reduction_kw: float | None
    updated_at: datetime


async def _cached(cache: CacheDep, response: Response, resource: str, load: Callable[[], Any]) -> Any:
    """The resource from the cache, with `x-cache` and `age` set; 503 + Retry-After when nothing can answer."""
    try:
        entry: Cached = await cache.get(resource, load)
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after_s)))}) from exc
    response.headers["x-cache"] = entry.result
    response.headers["age"] = str(int(entry.age_s))
    return entry.body


def _found(body: Any, facility_id: str) -> Any:
    if body is None:
        raise HTTPException(404, f"no facility {facility_id}")
    return body


@router.get("/facilities")
async def list_facilities(principal: CurrentPrincipal, cache: CacheDep, model: ReadModelDep,
                          response: Response) -> list[Facility]:
    """The facilities the token grants, with contract demand and number of meters."""
    rows = await _cached(cache, response, "facilities", model.facilities)
    return [Facility.model_validate(r) for r in rows if r["facility_id"] in principal.facility_ids]


@router.get("/facilities/{facility_id}/current")
async def current_load(facility_id: FacilityId, principal: CurrentPrincipal, cache: CacheDep,
                       model: ReadModelDep, response: Response) -> CurrentLoad:
    """The facility's newest 1-minute load against its contract demand."""
    principal.require(facility_id)
    body = await _cached(cache, response, f"current:{facility_id}", lambda: model.current(facility_id))
    return CurrentLoad.model_validate(_found(body, facility_id))


@router.get("/facilities/{facility_id}/forecast")
async def forecast(facility_id: FacilityId, principal: CurrentPrincipal, cache: CacheDep,
                   model: ReadModelDep, response: Response) -> Forecast:
    """The latest issued load forecast (P10/P50/P90 per 15-minute step); no steps before the first one."""
    principal.require(facility_id)
    body = await _cached(cache, response, f"forecast:{facility_id}", lambda: model.forecast(facility_id))
    return Forecast.model_validate(_found(body, facility_id))


@router.get("/facilities/{facility_id}/sheddable")
async def sheddable(facility_id: FacilityId, principal: CurrentPrincipal, cache: CacheDep,
                    model: ReadModelDep, response: Response) -> Sheddable:
    """Sheddable load per forecast step, computed from the latest forecast by the DR planner's own rules."""
    principal.require(facility_id)
    body = await _cached(cache, response, f"sheddable:{facility_id}", lambda: model.sheddable(facility_id))
    return Sheddable.model_validate(_found(body, facility_id))


@router.get("/facilities/{facility_id}/dr-events")
async def dr_events(facility_id: FacilityId, principal: CurrentPrincipal, cache: CacheDep,
                    model: ReadModelDep, response: Response) -> list[FacilityDrEvent]:
    """The DR events this facility takes part in, newest first, with its own saga state."""
    principal.require(facility_id)
    body = await _cached(cache, response, f"dr-events:{facility_id}", lambda: model.dr_events(facility_id))
    return [FacilityDrEvent.model_validate(r) for r in _found(body, facility_id)]
