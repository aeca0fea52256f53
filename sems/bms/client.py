"""One facility's BMS over SOAP (zeep), with connect and read timeouts and typed errors.

The contract is `bms.wsdl` in this package; the address is the facility's own (`facilities.bms_url`)
or comes from the settings (`bms_url_template`, or the local simulator at `/bms/<facility_id>`).
Errors are mapped to three kinds the gateway treats differently: a timeout (counts against the breaker and is
retried), an unavailable BMS (HTTP 5xx, refused connection: retried) and a rejection (a
SOAP fault: the BMS answered no, retrying would not change that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
import zeep
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport

from sems.settings import Settings

WSDL = Path(__file__).with_name("bms.wsdl")
BINDING = "{urn:sems:bms:v1}Bms"
Point = Literal["hvac_setpoint_offset_c", "lighting_level"]


class BmsError(Exception):
    """A BMS call did not succeed; the message says why."""


class BmsTimeout(BmsError):
    """No answer in time (connect or read timeout)."""


class BmsUnavailable(BmsError):
    """The BMS could not be reached or answered with an HTTP error."""


class BmsRejected(BmsError):
    """The BMS answered with a SOAP fault."""


@dataclass(frozen=True)
class CommandReceipt:
    idempotency_key: str
    status: str  # applied | unknown
    point: str | None = None
    value: float | None = None


def bms_address(settings: Settings, facility_id: str, own: str | None = None) -> str:
    """The facility's own address if it has one, else the settings' template or the local simulator."""
    if own:
        return own
    if settings.bms_url_template:
        return settings.bms_url_template.format(facility_id=facility_id)
    return f"http://{settings.host}:{settings.bms_port}/bms/{facility_id}"


class BmsClient:
    """The BMS of one facility: set points with an idempotency key, read status and point values."""

    def __init__(self, settings: Settings, facility_id: str, address: str | None = None) -> None:
        self.facility_id = facility_id
        # requests takes (connect, read): a dead host fails in 10 s, a hung BMS in 20 s (S2).
        transport = Transport(timeout=settings.bms_connect_timeout_s,
                              operation_timeout=(settings.bms_connect_timeout_s, settings.bms_read_timeout_s))
        self._client = zeep.Client(str(WSDL), transport=transport)
        self._service = self._client.create_service(BINDING, bms_address(settings, facility_id, address))

    def set_point(self, point: Point, value: float, *, idempotency_key: str, trace_id: str) -> CommandReceipt:
        """Command `point = value`; the same key again is applied at most once by the BMS."""
        headers = _headers(idempotency_key, trace_id)
        if point == "hvac_setpoint_offset_c":
            result = self._call("SetZoneSetpoint", zone_id="main", offset_c=value, _soapheaders=headers)
        else:
            result = self._call("SetLightingLevel", zone_id="main", level=value, _soapheaders=headers)
        return _receipt(result)

    def command_status(self, idempotency_key: str, *, trace_id: str) -> CommandReceipt:
        headers = _headers(idempotency_key, trace_id)
        return _receipt(self._call("GetCommandStatus", idempotency_key=idempotency_key, _soapheaders=headers))

    def point_values(self) -> dict[str, float]:
        """Current HVAC setpoint offset, lighting level and load of the facility."""
        result = self._call("GetPointValues")
        return {name: float(getattr(result, name)) for name in ("hvac_setpoint_offset_c", "lighting_level", "load_kw")}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._service, operation)(**kwargs)
        except requests.Timeout as exc:
            raise BmsTimeout(f"{self.facility_id} {operation}: no answer in time ({exc.__class__.__name__})") from exc
        except requests.ConnectionError as exc:
            raise BmsUnavailable(f"{self.facility_id} {operation}: cannot connect") from exc
        except TransportError as exc:
            raise BmsUnavailable(f"{self.facility_id} {operation}: HTTP {exc.status_code}") from exc
        except Fault as exc:
            raise BmsRejected(f"{self.facility_id} {operation}: SOAP fault {exc.code}: {exc.message}") from exc


def _headers(idempotency_key: str, trace_id: str) -> dict[str, dict[str, str]]:
    """The `CommandHeader` SOAP header: idempotency key and trace id (M1)."""
    return {"CommandHeader": {"idempotency_key": idempotency_key, "trace_id": trace_id}}


def _receipt(result: Any) -> CommandReceipt:
    value = None if result.value is None else float(result.value)
    return CommandReceipt(str(result.idempotency_key), str(result.status), result.point, value)
