"""Seed the control plane with the demo fleet: facilities and their meters, upserted (idempotent).

Re-seeding with other settings adds facilities and refreshes their attributes; it never
deletes a facility, since forecasts and DR history point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from sems.facilities import Facility, demo_fleet
from sems.settings import Settings
from sems.stores import postgres

METER_KIND = "electricity"

_UPSERT_FACILITY = text("""
    INSERT INTO facilities (facility_id, name, country, timezone, latitude, longitude, contract_demand_kw)
    VALUES (:facility_id, :name, :country, :timezone, :latitude, :longitude, :contract_demand_kw)
    ON CONFLICT (facility_id) DO UPDATE SET
        name = EXCLUDED.name, country = EXCLUDED.country, timezone = EXCLUDED.timezone,
        latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
        contract_demand_kw = EXCLUDED.contract_demand_kw
""")

_UPSERT_METER = text("""
    INSERT INTO meters (meter_id, facility_id, kind) VALUES (:meter_id, :facility_id, :kind)
    ON CONFLICT (meter_id) DO UPDATE SET facility_id = EXCLUDED.facility_id, kind = EXCLUDED.kind
""")


@dataclass(frozen=True)
class SeedResult:
    facilities: int
    meters: int


def seed_facilities(settings: Settings, fleet: list[Facility], database: str | None = None) -> SeedResult:
    """Upsert `fleet` into `facilities` and `meters` in one transaction."""
    facilities = [
        {"facility_id": f.facility_id, "name": f.name, "country": f.country, "timezone": f.timezone,
         "latitude": f.latitude, "longitude": f.longitude, "contract_demand_kw": f.contract_demand_kw}
        for f in fleet
    ]
    meters = [{"meter_id": m, "facility_id": f.facility_id, "kind": METER_KIND} for f in fleet for m in f.meter_ids]
    db = postgres.engine(settings, database)
    try:
        with db.begin() as conn:
            if facilities:
                conn.execute(_UPSERT_FACILITY, facilities)
            if meters:
                conn.execute(_UPSERT_METER, meters)
    finally:
        db.dispose()
    return SeedResult(facilities=len(facilities), meters=len(meters))


def seed_demo_fleet(settings: Settings, database: str | None = None) -> SeedResult:
    """Upsert the demo fleet the simulator drives (`simulator_facilities` x `simulator_meters`)."""
    return seed_facilities(settings, demo_fleet(settings.simulator_facilities, settings.simulator_meters), database)
