"""Seeding the demo fleet into the control plane: complete, and idempotent."""

from __future__ import annotations

import sqlalchemy as sa

from sems.facilities import demo_fleet
from sems.settings import Settings
from sems.stores import postgres
from sems.stores.seed import seed_demo_fleet


def _snapshot(settings: Settings) -> tuple[dict[str, tuple], dict[str, str]]:
    db = postgres.engine(settings)
    try:
        with db.connect() as conn:
            rows = conn.execute(sa.text("SELECT facility_id, name, contract_demand_kw, created_at FROM facilities"))
            facilities = {row.facility_id: (row.name, row.contract_demand_kw, row.created_at) for row in rows}
            pairs = conn.execute(sa.text("SELECT meter_id, facility_id FROM meters")).tuples().all()
            meters: dict[str, str] = dict(pairs)
    finally:
        db.dispose()
    return facilities, meters


def test_demo_fleet_is_in_facilities_and_meters(settings: Settings) -> None:
    fleet = demo_fleet(settings.simulator_facilities, settings.simulator_meters)
    facilities, meters = _snapshot(settings)
    for facility in fleet:
        assert facilities[facility.facility_id][:2] == (facility.name, facility.contract_demand_kw)
        for meter_id in facility.meter_ids:
            assert meters[meter_id] == facility.facility_id


def test_seeding_twice_changes_nothing(settings: Settings) -> None:
    before = _snapshot(settings)
    result = seed_demo_fleet(settings)
    again = seed_demo_fleet(settings)
    assert result == again
    assert (result.facilities, result.meters) == (
        settings.simulator_facilities, settings.simulator_facilities * settings.simulator_meters
    )
    assert _snapshot(settings) == before


def test_seeding_restores_edited_attributes_but_keeps_creation_time(settings: Settings) -> None:
    facility_id = demo_fleet(1, 1)[0].facility_id
    before, _ = _snapshot(settings)
    db = postgres.engine(settings)
    try:
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE facilities SET name = 'renamed' WHERE facility_id = :f"), {"f": facility_id})
    finally:
        db.dispose()
    seed_demo_fleet(settings)
    after, _ = _snapshot(settings)
    assert after[facility_id] == before[facility_id]
