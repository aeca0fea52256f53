"""Errors as RFC 9457 problem details (`application/problem+json`), the API's one error shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sems.logs import current_trace_id

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem-details response; `trace_id` lets an operator find the request's log lines."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "trace_id": current_trace_id(),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Headers the raiser set (WWW-Authenticate on 401, Retry-After on 503) are part of the answer.
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    return problem(422, "the request is not valid", errors=errors)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    # Fail fast and say so (C1): the caller may retry later, nothing is half-answered.
    return problem(503, "the control-plane database (PostgreSQL) is unavailable", title="Service Unavailable",
                   headers={"Retry-After": "10"})


def install(app: FastAPI) -> None:
    """Answer HTTP, validation and database-down errors as problem details (anything else: the middleware)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)


class ProblemDocument(BaseModel):
    """RFC 9457 problem details as this API writes them."""

    type: str
    title: str
    status: int
    detail: str
    trace_id: str | None = None


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry: a problem document with this description.

    `model` registers the component (FastAPI also lists it under application/json); the schema is stated
    under the content type the API really answers with.
    """
    schema = {"$ref": f"#/components/schemas/{ProblemDocument.__name__}"}
    return {"description": description, "model": ProblemDocument, "content": {PROBLEM_JSON: {"schema": schema}}}


# What every authenticated read may answer besides 200, as documented in the OpenAPI spec.
READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: documented("missing, malformed, expired, not yet valid or wrongly signed token; wrong issuer or audience"),
    403: documented("the token's facility_ids claim does not include this facility"),
    404: documented("no such facility"),
    422: documented("the request is not valid"),
    503: documented("neither the cache nor the database can answer; see Retry-After"),
}
