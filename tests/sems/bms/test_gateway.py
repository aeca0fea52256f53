"""The BMS client and gateway against the stack's SOAP simulator, with injected faults (S2)."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from sems.bms.client import WSDL, BmsClient, BmsRejected, BmsTimeout, BmsUnavailable
from sems.bms.gateway import BmsGateway
from sems.resilience import BreakerState, CircuitOpenError
from sems.settings import Settings
from tests.sems.bms.conftest import Inject, bms_state

OPERATIONS = re.compile(r'<wsdl:operation name="(\w+)"')


def _fast(settings: Settings, **overrides: float) -> Settings:
    """Short timeouts and retry delays so fault tests take seconds; the production values are the defaults."""
    values = {"bms_read_timeout_s": 1.0, "bms_retry_delay_s": 0.05, **overrides}
    return settings.model_copy(update=values)


def test_repository_wsdl_matches_what_the_simulator_serves(settings: Settings) -> None:
    served = httpx.get(f"http://{settings.host}:{settings.bms_port}/bms/fac-001?wsdl", timeout=5.0).text
    expected = {"SetZoneSetpoint", "SetLightingLevel", "GetCommandStatus", "GetPointValues"}
    assert set(OPERATIONS.findall(served)) == set(OPERATIONS.findall(WSDL.read_text())) == expected
    assert "CommandHeader" in served


def test_a_command_is_applied_once_per_key_and_confirmed(settings: Settings) -> None:
    client, key = BmsClient(settings, "fac-002"), f"test-{uuid.uuid4().hex}"
    first = client.set_point("lighting_level", 0.8, idempotency_key=key, trace_id="t")
    again = client.set_point("lighting_level", 0.3, idempotency_key=key, trace_id="t")
    assert first == again and first.value == 0.8
    assert client.command_status(key, trace_id="t").status == "applied"
    assert client.point_values()["lighting_level"] == 0.8
    assert bms_state(settings, "fac-002")["apply_counts"][key] == 1
    client.set_point("lighting_level", 1.0, idempotency_key=key + "-undo", trace_id="t")


def test_lost_response_is_retried_with_the_same_key_and_applied_once(settings: Settings, inject_fault: Inject) -> None:
    gateway, key = BmsGateway(_fast(settings)), f"test-{uuid.uuid4().hex}"
    inject_fault("fac-003", "lost_response", count=1)
    receipt = gateway.call("fac-003", lambda c: c.set_point("hvac_setpoint_offset_c", 1.0, idempotency_key=key,
                                                            trace_id="t"))
    assert receipt.status == "applied"
    assert bms_state(settings, "fac-003")["apply_counts"][key] == 1
    gateway.call("fac-003", lambda c: c.set_point("hvac_setpoint_offset_c", 0.0, idempotency_key=key + "-undo",
                                                  trace_id="t"))


def test_three_timeouts_open_the_breaker_of_that_bms_only(settings: Settings, inject_fault: Inject) -> None:
    gateway = BmsGateway(_fast(settings, bms_read_timeout_s=0.5, bms_retries=2))
    inject_fault("fac-004", "hang", seconds=3)
    with pytest.raises(BmsTimeout):
        gateway.call("fac-004", lambda c: c.point_values())
    assert gateway.breaker("fac-004").state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        gateway.call("fac-004", lambda c: c.point_values())
    assert gateway.call("fac-005", lambda c: c.point_values())["lighting_level"] >= 0
    assert gateway.breaker("fac-005").state is BreakerState.CLOSED


def test_http_500_is_retried_and_soap_fault_is_not(settings: Settings, inject_fault: Inject) -> None:
    gateway = BmsGateway(_fast(settings))
    inject_fault("fac-001", "http500", count=2)
    assert gateway.call("fac-001", lambda c: c.point_values())["load_kw"] > 0  # third attempt succeeds
    inject_fault("fac-001", "http500")
    with pytest.raises(BmsUnavailable, match="HTTP 500"):
        gateway.call("fac-001", lambda c: c.point_values())
    inject_fault("fac-001", "soap_fault", count=1)
    with pytest.raises(BmsRejected, match="injected SOAP fault"):
        gateway.call("fac-001", lambda c: c.set_point("lighting_level", 1.0, idempotency_key=uuid.uuid4().hex,
                                                      trace_id="t"))


def test_a_hung_bms_does_not_delay_the_others(settings: Settings, inject_fault: Inject) -> None:
    gateway = BmsGateway(_fast(settings, bms_read_timeout_s=3.0, bms_retries=0))
    inject_fault("fac-001", "hang", seconds=6)
    finished: dict[str, float] = {}

    def read(facility_id: str) -> float:
        try:
            return gateway.call(facility_id, lambda c: c.point_values())["load_kw"]
        finally:
            finished[facility_id] = time.monotonic()

    results = gateway.for_each_facility(["fac-001", "fac-002", "fac-003", "fac-004", "fac-005"], read)
    assert isinstance(results["fac-001"], BmsTimeout)
    healthy = [f for f in results if f != "fac-001"]
    assert all(isinstance(results[f], float) for f in healthy)
    # Every healthy facility answered before the hung one gave up: none waited behind it.
    assert max(finished[f] for f in healthy) < finished["fac-001"]


def test_a_facility_with_its_own_bms_address_is_called_there(settings: Settings) -> None:
    # `site-x` is no simulator facility: only its own address (fac-004's endpoint here) can answer for it.
    own = f"http://{settings.host}:{settings.bms_port}/bms/fac-004"
    gateway = BmsGateway(settings, addresses={"site-x": own})
    fac_004, key = BmsClient(settings, "fac-004"), f"test-{uuid.uuid4().hex}"
    prior = fac_004.point_values()["lighting_level"]
    try:
        gateway.call("site-x", lambda c: c.set_point("lighting_level", 0.9, idempotency_key=key, trace_id="t"))
        assert fac_004.command_status(key, trace_id="t").status == "applied"
    finally:
        fac_004.set_point("lighting_level", prior, idempotency_key=f"{key}/restore", trace_id="t")
    with pytest.raises(BmsUnavailable):
        BmsGateway(_fast(settings, bms_retries=0)).call("site-x", lambda c: c.point_values())
