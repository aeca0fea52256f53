"""The state behind the simulated BMSs: each facility's controls, applied commands and injected faults.

The field holds the very `FacilityModel` objects the meter simulator publishes from (both
run in the simulator process), so an applied command changes the next published readings.
Commands are applied once per idempotency key: a retried command (same key) answers the
recorded result without touching the controls again, exactly what the saga relies on.
`apply_counts` keeps how often each key really changed a control, so tests can prove it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from apps.simulator.facility_model import FacilityModel

FaultMode = Literal["latency", "hang", "http500", "soap_fault", "lost_response"]
FAULT_MODES: tuple[str, ...] = ("latency", "hang", "http500", "soap_fault", "lost_response")


@dataclass
class Fault:
    """An injected fault; `remaining` requests are affected (None: until cleared)."""

    mode: FaultMode
    seconds: float = 3600.0
    remaining: int | None = None


@dataclass
class AppliedCommand:
    idempotency_key: str
    point: str
    value: float
    applied_at: datetime


@dataclass
class FacilityBms:
    """One facility's BMS: the load model it controls and what it has been told."""

    model: FacilityModel
    applied: dict[str, AppliedCommand] = field(default_factory=dict)
    apply_counts: dict[str, int] = field(default_factory=dict)
    fault: Fault | None = None


class BmsField:
    """Every simulated BMS, thread-safe (the SOAP server answers each request on its own thread)."""

    def __init__(self, models: list[FacilityModel]) -> None:
        self._lock = threading.Lock()
        self.sites = {m.facility.facility_id: FacilityBms(m) for m in models}

    def apply(self, facility_id: str, key: str, point: str, value: float) -> AppliedCommand:
        """Apply `point = value` once per `key`; a repeated key returns the first result."""
        with self._lock:
            site = self.sites[facility_id]
            if key in site.applied:
                return site.applied[key]
            if point == "hvac_setpoint_offset_c":
                site.model.controls.hvac_setpoint_offset_c = value
            else:
                site.model.controls.lighting_level = value
            command = AppliedCommand(key, point, value, datetime.now(UTC))
            site.applied[key] = command
            site.apply_counts[key] = site.apply_counts.get(key, 0) + 1
            return command

    def take_fault(self, facility_id: str) -> Fault | None:
        """The fault that applies to this request (consuming one of its `remaining`)."""
        with self._lock:
            site = self.sites[facility_id]
            fault = site.fault
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    site.fault = None
            return fault

    def set_fault(self, facility_id: str, fault: Fault | None) -> None:
        with self._lock:
            self.sites[facility_id].fault = fault

    def snapshot(self, facility_id: str) -> dict[str, object]:
        """Controls, load and per-key apply counts of one facility (the admin API's answer)."""
        with self._lock:
            site = self.sites[facility_id]
            controls = site.model.controls
            return {
                "facility_id": facility_id,
                "hvac_setpoint_offset_c": controls.hvac_setpoint_offset_c,
                "lighting_level": controls.lighting_level,
                "load_kw": round(site.model.load_kw(datetime.now(UTC)), 3),
                "apply_counts": dict(site.apply_counts),
                "fault": None if site.fault is None else site.fault.mode,
            }
