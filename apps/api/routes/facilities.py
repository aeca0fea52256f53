"""The facilities read API."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from apps.api.deps import EngineDep

router = APIRouter(prefix="/v1", tags=["facilities"])

_FACILITIES = text("""
    SELECT f.facility_id, f.name, f.contract_demand_kw, f.timezone, f.country, count(m.meter_id) AS meter_count
    FROM facilities f LEFT JOIN meters m ON m.facility_id = f.facility_id
    GROUP BY f.facility_id ORDER BY f.facility_id
""")


class Facility(BaseModel):
    facility_id: str
    name: str
    contract_demand_kw: float
    timezone: str
    country: str
    meter_count: int


@router.get("/facilities")
def list_facilities(engine: EngineDep) -> list[Facility]:
    """Every facility with its contract demand and number of meters."""
    # N2: once JWT scoping lands, filter by the principal's facility claims here.
    with engine.connect() as conn:
        return [Facility.model_validate(row) for row in conn.execute(_FACILITIES).mappings()]
