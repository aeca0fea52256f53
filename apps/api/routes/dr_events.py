"""The demand-response webhook for utilities (`POST /v1/dr/events`), the event status (`GET /v1/dr/events/{id}`)
and the managers' notices (`GET /v1/dr/facilities/{id}/notices`, token-scoped like the read API).

Order of checks, each refused with a problem document that says exactly why: size (413),
signature and timestamp (401), JSON (400), text PostgreSQL can store (422), schema (422),
replayed delivery id (409), unknown facilities (422). Only then is the event persisted, in the
transaction that decides the 202.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from apps.api.auth import CurrentPrincipal
from apps.api.deps import EngineDep, SettingsDep
from apps.api.dr import signatures
from apps.api.dr.intake import Delivery, IntakeRefused, accept
from apps.api.dr.notices import facility_notices
from apps.api.dr.openapi import WEBHOOK_BODY, WEBHOOK_RESPONSES
from apps.api.dr.payloads import parse, unstorable_text
from apps.api.dr.status import event_status
from apps.api.problems import READ_PROBLEMS, documented, problem
from apps.api.readmodel import FACILITY_ID
from sems.logs import current_trace_id

router = APIRouter(prefix="/v1/dr", tags=["demand response"])


@router.post("/events", status_code=202, response_model=None, responses=WEBHOOK_RESPONSES,
             openapi_extra=WEBHOOK_BODY)
async def receive_event(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    """Accept a signed DR event (OpenADR 3 notification or plain JSON); 202 with its status URL."""
    limit = settings.dr_webhook_max_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        return problem(413, f"body larger than {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        return problem(413, f"body larger than {limit} bytes")
    try:
        utility_id = signatures.verify(settings.dr_webhook_secrets, request.headers, body,
                                       tolerance_s=settings.dr_webhook_tolerance_s)
    except signatures.SignatureError as exc:
        return problem(401, str(exc), title="Invalid webhook signature")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(400, f"body is not JSON: {exc}")
    except RecursionError:
        return problem(400, "body is not JSON SEMS accepts: nested too deeply")
    if unstorable := unstorable_text(document):
        return problem(422, f"the event cannot be stored: {unstorable}")
    try:
        dr_request = parse(document)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        return problem(422, "the event does not match either accepted form", errors=errors)
    delivery = Delivery(request.headers["webhook-id"], utility_id, current_trace_id(), document)
    try:
        answer = await run_in_threadpool(accept, engine, delivery, dr_request)
    except IntakeRefused as exc:
        return problem(exc.status, exc.reason, **exc.extra)
    return JSONResponse(answer, status_code=202, headers={"Location": answer["status_url"]})


@router.get("/events/{event_id}", responses={404: documented("no such event"), 503: WEBHOOK_RESPONSES[503]})
def get_event(event_id: str, engine: EngineDep) -> Any:
    """The event's saga state, per-facility states, BMS commands and audit trail."""
    if unstorable_text(event_id):  # no stored event has such an id, and PostgreSQL would refuse the query
        return problem(404, "no DR event with that id")
    status = event_status(engine, event_id)
    if status is None:
        return problem(404, f"no DR event {event_id}")
    return status


@router.get("/facilities/{facility_id}/notices", responses=READ_PROBLEMS)
async def notices(facility_id: Annotated[str, Path(pattern=FACILITY_ID)], principal: CurrentPrincipal,
                  engine: EngineDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """The facility's DR notices, newest first: events SEMS could not command (compensated) or restore (failed)."""
    principal.require(facility_id)
    return await run_in_threadpool(facility_notices, engine, facility_id, limit)
