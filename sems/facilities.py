"""The demo fleet: facilities and meters seeded into a fresh stack and driven by the simulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facility:
    facility_id: str
    name: str
    country: str
    timezone: str
    latitude: float
    longitude: float
    contract_demand_kw: float
    meter_ids: tuple[str, ...]


_SITES = [
    ("Harbor Logistics Center", "US", "America/New_York", 40.69, -74.17, 900.0),
    ("Riverside Office Tower", "US", "America/Chicago", 41.88, -87.63, 650.0),
    ("Northgate Retail Park", "DE", "Europe/Berlin", 52.52, 13.40, 480.0),
    ("Lakeside Hospital", "US", "America/Denver", 39.74, -104.99, 1200.0),
    ("Eastfield Cold Storage", "GB", "Europe/London", 51.51, -0.13, 750.0),
    ("Summit Data Hall", "US", "America/Los_Angeles", 37.77, -122.42, 1500.0),
    ("Canal Street Campus", "NL", "Europe/Amsterdam", 52.37, 4.90, 560.0),
    ("Prairie Manufacturing", "US", "America/Chicago", 41.26, -95.94, 1100.0),
]


def demo_fleet(facilities: int, meters: int) -> list[Facility]:
    """`facilities` demo facilities with `meters` meters each; ids are stable (fac-001, fac-001-m01)."""
    fleet = []
    for i in range(facilities):
        name, country, tz, lat, lon, contract = _SITES[i % len(_SITES)]
        facility_id = f"fac-{i + 1:03d}"
        suffix = f" {i // len(_SITES) + 1}" if i >= len(_SITES) else ""
        fleet.append(
            Facility(
                facility_id=facility_id,
                name=name + suffix,
                country=country,
                timezone=tz,
                latitude=lat,
                longitude=lon,
                contract_demand_kw=contract,
                meter_ids=tuple(f"{facility_id}-m{m + 1:02d}" for m in range(meters)),
            )
        )
    return fleet
