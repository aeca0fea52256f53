"""Per-request trace id, one JSON log line and Prometheus metrics per request; unexpected errors become 500 problems."""

from __future__ import annotations

import logging
import re
import time

from fastapi import Request
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class Observe:
    """ASGI middleware: run each HTTP request inside its trace context, log it, count it, echo the trace id.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every
    request through an extra task and memory stream, a large share of a cached answer's cost.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        status, responded = 500, False
        with trace_context(incoming_trace_id(request)) as trace_id:
            started = time.perf_counter()

            async def send_traced(message: Message) -> None:
                nonlocal status, responded
                if message["type"] == "http.response.start":
                    status, responded = message["status"], True
                    MutableHeaders(scope=message)["x-trace-id"] = trace_id
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            except Exception:
                log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
                if responded:  # the answer is already on its way: nothing more can be sent
                    raise
                response = problem(500, "unexpected error; the log has the details under this trace id")
                await response(scope, receive, send_traced)
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(request.method, route, str(status)).inc()
            LATENCY.labels(request.method, route).observe(elapsed)
            log.info("request", extra={"fields": {"method": request.method, "path": request.url.path,
                                                  "status": status, "duration_ms": round(elapsed * 1000, 1)}})
