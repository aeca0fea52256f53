"""The BMS SOAP service (spyne): the operations of `sems/bms/bms.wsdl`, answered for the facility in the URL.

The idempotency key and trace id travel in the `CommandHeader` SOAP header. The facility
comes from the WSGI environ (`sems.facility_id`, set by the HTTP front in `server.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from spyne import Application, ComplexModel, Double, Fault, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from apps.simulator.bms.field import BmsField

NAMESPACE = "urn:sems:bms:v1"


class CommandHeader(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    trace_id = Unicode


class CommandResult(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    point = Unicode
    value = Double
    status = Unicode  # applied | unknown


class PointValues(ComplexModel):
    __namespace__ = NAMESPACE
    hvac_setpoint_offset_c = Double
    lighting_level = Double
    load_kw = Double


def _site(ctx: Any) -> tuple[BmsField, str]:
    env = ctx.transport.req_env
    return env["sems.bms_field"], env["sems.facility_id"]


def _command(ctx: Any, point: str, value: float) -> CommandResult:
    field, facility_id = _site(ctx)
    header = ctx.in_header
    if header is None or not header.idempotency_key:
        raise Fault("Client.MissingIdempotencyKey", "CommandHeader.idempotency_key is required")
    fault = field.take_fault(facility_id)
    if fault is not None and fault.mode == "soap_fault":
        raise Fault("Server.Injected", f"injected SOAP fault at {facility_id}")
    if fault is not None and fault.mode == "lost_response":
        # Applied, then the answer is lost on the way back (the front turns this into a dropped response).
        field.apply(facility_id, header.idempotency_key, point, value)
        ctx.transport.req_env["sems.lose_response"] = True
    applied = field.apply(facility_id, header.idempotency_key, point, value)
    return CommandResult(idempotency_key=applied.idempotency_key, point=applied.point, value=applied.value,
                         status="applied")


class BmsService(ServiceBase):
    __in_header__ = CommandHeader

    @rpc(Unicode, Double, _returns=CommandResult)
    def SetZoneSetpoint(ctx, zone_id: str, offset_c: float) -> CommandResult:  # noqa: N802, N805 - WSDL names
        if not -5.0 <= offset_c <= 5.0:
            raise Fault("Client.OutOfRange", "offset_c must be within -5..5")
        return _command(ctx, "hvac_setpoint_offset_c", offset_c)

    @rpc(Unicode, Double, _returns=CommandResult)
    def SetLightingLevel(ctx, zone_id: str, level: float) -> CommandResult:  # noqa: N802, N805
        if not 0.0 <= level <= 1.0:
            raise Fault("Client.OutOfRange", "level must be within 0..1")
        return _command(ctx, "lighting_level", level)

    @rpc(Unicode, _returns=CommandResult)
    def GetCommandStatus(ctx, idempotency_key: str) -> CommandResult:  # noqa: N802, N805
        field, facility_id = _site(ctx)
        applied = field.sites[facility_id].applied.get(idempotency_key)
        if applied is None:
            return CommandResult(idempotency_key=idempotency_key, status="unknown")
        return CommandResult(idempotency_key=idempotency_key, point=applied.point, value=applied.value,
                             status="applied")

    @rpc(_returns=PointValues)
    def GetPointValues(ctx) -> PointValues:  # noqa: N802, N805
        field, facility_id = _site(ctx)
        model = field.sites[facility_id].model
        return PointValues(hvac_setpoint_offset_c=model.controls.hvac_setpoint_offset_c,
                           lighting_level=model.controls.lighting_level, load_kw=model.load_kw(datetime.now(UTC)))


def wsgi_app() -> WsgiApplication:
    """The SOAP 1.1 application (document/literal, validated input)."""
    app = Application([BmsService], tns=NAMESPACE, name="Bms",
                      in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    return WsgiApplication(app)
