"""Per-request trace id, one JSON log line and Prometheus metrics per request; unexpected errors become 500 problems."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

from apps.api.problems import problem
from sems.logs import trace_context

log = logging.getLogger("apps.api")

REQUESTS = Counter("sems_api_requests_total", "API requests answered", ["method", "route", "status"])
LATENCY = Histogram("sems_api_request_duration_seconds", "API request latency", ["method", "route"])

# W3C traceparent: version-traceid-parentid-flags; the 32-hex trace id is what we carry.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def incoming_trace_id(request: Request) -> str | None:
    """The caller's trace id from `traceparent` or `x-trace-id`, if well-formed; else None (a new one is made)."""
    match = _TRACEPARENT.match(request.headers.get("traceparent", "").strip().lower())
    if match:
        return match.group(1)
    given = request.headers.get("x-trace-id", "").strip()
    return given if _TRACE_ID.match(given) else None


async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Middleware: run the request inside its trace context, log it, count it, echo the trace id."""
    with trace_context(incoming_trace_id(request)) as trace_id:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
            response = problem(500, "unexpected error; the log has the details under this trace id")
        elapsed = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        log.info(
            "request",
            extra={"fields": {"method": request.method, "path": request.url.path, "status": response.status_code,
                              "duration_ms": round(elapsed * 1000, 1)}},
        )
        response.headers["x-trace-id"] = trace_id
        return response
